export { probe, type ProbeOptions } from './probe.js';
export {
  httpRateLimit,
  type HttpRateLimit,
  type HttpRateLimitOptions,
  type ObservedResponse,
  type RateLimitAdvice,
} from './http-rate-limit.js';
