import { packageVersion } from './package-version.js';
import { type Attributes, type Context, context, type Span, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { messageOf } from './errors.js';

/**
 * Sluice's OpenTelemetry tracer. Without an SDK registered by the host, the API hands out
 * non-recording spans: starting one is an object allocation, attributes are skipped (see
 * `recording`), and nothing is exported. With one, a run's execution is a `sluice.run` span and
 * each batch a `sluice.batch` span under it, with `process` called inside the batch span's context
 * (so the host's own instrumentation, pg or fetch, nests under the batch).
 */
export const tracer: Tracer = trace.getTracer('sluice', packageVersion());

/** The context a span is the active span of: its children's parent. */
export function contextWith(span: Span, parent: Context = context.active()): Context {
  return trace.setSpan(parent, span);
}

/** Runs `work` with `span` as the active span, so that spans the host starts inside are its children. */
export function withSpan<T>(span: Span, work: () => T): T {
  return context.with(trace.setSpan(context.active(), span), work);
}

/** Sets attributes only on a span that records them: without an SDK, nothing is built. */
export function setAttributes(span: Span, attributes: () => Attributes): void {
  if (span.isRecording()) span.setAttributes(attributes());
}

/** Records `error` on the span and marks it failed. */
export function recordError(span: Span, error: unknown): void {
  if (!span.isRecording()) return;
  span.recordException(error instanceof Error ? error : new Error(messageOf(error)));
  span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(error) });
}

/** Marks the span failed with a reason (a run that ended `failed`, without an exception at hand). */
export function markFailed(span: Span, reason: string): void {
  if (span.isRecording()) span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
}
