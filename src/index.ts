// `sluice`: the public API of Sluice's core, re-exported and nothing else: definitions, the engine,
// workers, sources, signals, SLOs and errors. The stores, the server and the metrics have entry
// points of their own (`sluice/sqlite`, `sluice/postgres`, `sluice/server`, `sluice/observe`), so
// that importing this loads none of better-sqlite3, pg, fastify or prom-client.
export { defineBackfill } from './core/definition.js';
export type { BackfillDefinition, BackfillDefinitionInput, CheckpointEvery, DeliveryMode, ProcessContext } from './core/definition.js';
export { createSluice } from './core/engine.js';
export type { Sluice, SluiceOptions, RunStatus, PartitionStatus, ReplayResult, EnqueueResult } from './core/sluice.js';
export type { Stalled } from './core/lease-liveness.js';
export type { RunHandle, RunEvents, RunOutcome, StartOptions, ProgressSnapshot, BatchEvent } from './core/run-handle.js';
export type {
  RunRecord,
  PartitionRecord,
  TransitionRecord,
  QuarantineRecord,
  RunOptions,
  RunParams,
  RetryPolicy,
  WorkerIdentity,
} from './core/run.js';
export type { RunState } from './core/run-state.js';
/** Every run state, and those of a run that has not ended (pending, running, paused); `isRunState` checks a string. */
export { RUN_STATES, OPEN_STATES, isRunState } from './core/run-state.js';
/** A lease ended early because its worker was known dead (its expiry is the epoch), as status shows it. */
export { expiredEarly } from './core/lease-liveness.js';
/** Whether a lease owner was a process on this host that is gone (`createSluice`'s default `isOwnerDead`): its partitions are taken over at once. */
export { ownerGoneFromThisHost } from './core/ids.js';
export type { Counts } from './core/counts.js';
export type { Cursor, ItemKey } from './core/cursor.js';
export type { Source, SourceReader, SourceBatch, PartitionSpec, MalformedRecord, SourceFilter } from './core/source.js';
/** The store, and its ports one per part of Sluice that uses them (what a function that needs only some of a store asks for). */
export type {
  Store,
  StoreDatabase,
  RunStore,
  RolloutBudgets,
  PartitionLeases,
  BatchCommit,
  QuarantineReads,
  BatchHistory,
  SloAlerts,
  AlertOutbox,
  Verifications,
  ApiTokens,
} from './core/store.js';
export type { SqlConnection, SqlTransaction, SqlValue, SqlDialect } from './core/sql.js';
export { silentLogger, type Logger } from './core/logger.js';
export { runWorker, type WorkerLoopOptions, type WorkerLoopResult } from './core/worker-loop.js';
export { systemClock, type Clock } from './core/clock.js';
export { packageVersion } from './core/package-version.js';
export {
  SluiceError,
  UsageError,
  ConfigError,
  NotFoundError,
  StoreError,
  SourceError,
  InvalidTransitionError,
  LeaseLostError,
  BatchAbortedError,
  RunAlreadySucceededError,
  RunQueuedError,
  PermanentError,
  isSluiceError,
  messageOf,
  type SluiceErrorDetails,
  type SluiceErrorOptions,
} from './core/errors.js';
/** How a front end words the options and calls that messages and hints quote in its own terms (the CLI's flags and commands, the API's routes). */
export { errorTextIn, inTermsOf, type FrontEndTerms } from './core/error-terms.js';
// The CLI's exit codes (kept here for programs that wrap the CLI or mirror its statuses).
export { ExitCode } from './cli/exit-codes.js';
export { SqlPlaceholderError } from './core/placeholders.js';
/** Parsing as the engine does: `since` (`7d`, an ISO date) and durations (`500ms`, `2m`), with errors naming `what`. */
export { parseSince, parseDuration } from './core/since.js';
/** The longest `batchDelayMs` the engine accepts (1 h): a longer stop is a pause. */
export { MAX_BATCH_DELAY_MS } from './core/duration-limits.js';
/** Connection strings and messages with their passwords and secret parameters replaced by `***`, for logs. */
export { redactConnectionString, redactSecrets } from './core/redact.js';
export { idempotencyKeyFor } from './core/idempotency.js';
export { sqlKeyset, iterable, jsonl, IterableReadError } from './sources/index.js';
export type { IterableContext, IterableSourceOptions } from './sources/index.js';
export { probe, httpRateLimit } from './signals/index.js';
export type { ProbeOptions, HttpRateLimit, HttpRateLimitOptions, ObservedResponse, RateLimitAdvice } from './signals/index.js';
export type { HealthSignal, SignalLevel, SignalReading } from './core/throttle/signal.js';
export type { ThrottleInput } from './core/definition.js';
export type { KnobLayer, Knobs, ProfileName } from './core/throttle/knobs.js';
/** A throttle profile's name checked (background, moderate, fast), with an error naming `what`. */
export { parseProfile } from './core/throttle/knobs.js';
// The throttle's knobs from the environment (SLUICE_BATCH_SIZE, …), as the CLI reads them.
export { envLayer } from './cli/options.js';
export { SloMonitor } from './core/slo/monitor.js';
export type { AlertNotification } from './core/slo/alert-notification.js';
export type { AlertNotifier, AlertReading, AttemptResult, SloMonitorOptions } from './core/slo/monitor.js';
export type { SloConfigInput, SloInput, TierInput, WebhookInput } from './core/slo/slo.js';
export type { AlertRecord, AlertEventRecord } from './core/slo/alert-record.js';
export type { AlertState } from './core/slo/alert-state.js';
export type { OutboxRecord } from './core/slo/alert-outbox.js';
export { parity, uniqueness, coverage } from './core/verify.js';
export type { VerifyCheck, VerifyContext, VerifyOutcome, VerificationRecord } from './core/verify.js';
export type { SampleReport, SampleBucket } from './core/sample.js';
