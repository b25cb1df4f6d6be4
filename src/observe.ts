// `sluice/observe`: Prometheus metrics on the caller's prom-client registry, the generated SLO
// alert rules and Grafana dashboard, and the signed alert webhook (sender and receiver's check).
export { RunMetrics } from './observe/run-metrics.js';
export { registerStoreMetrics } from './observe/store-metrics.js';
export { serveMetrics } from './observe/metrics-server.js';
export { sloRules, sloRulesYaml, type RuleFile, type Rule, type SloOwner } from './observe/slo-rules.js';
export { grafanaDashboard } from './observe/grafana-dashboard.js';
export {
  WebhookNotifier,
  verifySignature,
  SIGNATURE_HEADER,
  NOTIFICATION_ID_HEADER,
  type WebhookNotifierOptions,
} from './observe/webhook-notifier.js';
// A run's report (what ran, how fast, what failed, what was checked), as `sluice report` writes it, in Markdown or HTML.
export { buildRunReport, type RunReport } from './observe/report/run-report.js';
export { renderMarkdown } from './observe/report/render-markdown.js';
export { renderHtml } from './observe/report/render-html.js';
