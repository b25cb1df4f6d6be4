import type { Cursor, ItemKey } from './cursor.js';
import type { SqlConnection } from './sql.js';

/**
 * A slice of a source that one worker reads at a time: a key range, a byte range, a time window.
 * `lower` is inclusive and `upper` exclusive; `null` means unbounded. Only the source interprets them.
 */
export interface PartitionSpec {
  readonly lower: Cursor;
  readonly upper: Cursor;
  /** Human label shown in status output, e.g. `id 1..50000`. */
  readonly label?: string;
  /**
   * The fan-out child this slice belongs to (e.g. the entity type `issues`), when the backfill fans
   * out: the source reads only that child's items. Splits keep it.
   */
  readonly child?: string;
  /** How many items the plan counted in this slice, when it counted them: the engine then counts no more. */
  readonly items?: number;
}

/** A record the source could not turn into an item (a malformed JSON line). It is quarantined, never dropped. */
export interface MalformedRecord {
  /** Stable key for the quarantine entry (e.g. `offset:1234`). */
  readonly key: ItemKey;
  readonly errorClass: string;
  readonly message: string;
  /** The raw record, truncated. */
  readonly sample: string;
  /** Where to find the record again when it is replayed (source-specific). */
  readonly locator?: Cursor;
}

/** What one read returned. */
export interface SourceBatch<Item> {
  readonly items: Item[];
  /** Records that could not be parsed; they count as received and are quarantined. */
  readonly malformed: MalformedRecord[];
  /** The position after this batch; the next read starts after it. */
  readonly cursor: Cursor;
  /** True when the partition has nothing after `cursor`. */
  readonly done: boolean;
}

/** Parameters of a run that sources honour. */
export interface SourceFilter {
  /** Only items at or after this instant (sources with a timestamp column or time axis). */
  readonly since?: Date;
  /** The run's parameters (`--param installationId=42`): which installation, tenant or account to read. */
  readonly params?: Readonly<Record<string, unknown>>;
}

/** What the runtime gives a source when it opens. */
export interface SourceEnvironment {
  /** A connection to the store's own database: the default target of SQL sources. */
  readonly storeConnection?: SqlConnection;
}

/** An item the user asked to replay from quarantine, with what was stored about it. */
export interface ReplayRequest {
  readonly key: ItemKey;
  /** The stored payload (the item as JSON, or the raw record for malformed ones). */
  readonly payload: unknown;
  readonly locator?: Cursor;
}

/** An opened source, bound to its connections for the lifetime of a run. */
export interface SourceReader<Item> {
  /**
   * Splits the source into at most `partitions` slices in key order. Must return at least one.
   * With `child` (a fan-out backfill), plans only that child's items; the engine stamps the child
   * on every slice returned.
   */
  plan(request: { partitions: number; filter: SourceFilter; child?: string }): Promise<PartitionSpec[]>;
  /** Reads up to `limit` items of `partition` after `cursor` (`null`: from the partition's start). */
  read(request: { partition: PartitionSpec; cursor: Cursor; limit: number; filter: SourceFilter }): Promise<SourceBatch<Item>>;
  /**
   * Whether reading the next batch now, while the current one is processed and committed, would
   * run beside that work (a read on a connection of its own) and so hide the read's time. Asked
   * before every such read-ahead; absent: never read ahead (one connection, a stream, a file).
   */
  mayReadAhead?(): boolean;
  /** Counts the items of `partition` after `cursor`, for progress and ETA. May be an estimate. */
  count?(request: { partition: PartitionSpec; cursor: Cursor; filter: SourceFilter }): Promise<number>;
  /**
   * Counts like `count`, but beside the run: resolves as soon as what the count will see is fixed
   * (a snapshot of the items as they are now, before the run changes any), and `counted` settles
   * when the count ends, so that a long count does not hold up the first batch. `abort` gives up
   * a count still running (the engine closing). Undefined when this source cannot count beside
   * the run this time (the engine then counts with `count` before the run starts).
   */
  countBeside?(request: {
    partition: PartitionSpec;
    cursor: Cursor;
    filter: SourceFilter;
  }): Promise<{ counted: Promise<number>; abort(): void } | undefined>;
  /**
   * A point that cuts what is left of `partition` after `cursor` in two, each side holding at least
   * `minItems` items, or null when it is too small to split. Lets idle workers take half of the
   * largest remaining partition so that all finish together.
   */
  split?(request: { partition: PartitionSpec; cursor: Cursor; filter: SourceFilter; minItems: number }): Promise<Cursor | null>;
  /**
   * Fetches fresh copies of quarantined items for replay. Returns, for each request, the item or an
   * error that keeps it quarantined. Without it, replay uses the stored payloads.
   */
  refetch?(requests: readonly ReplayRequest[]): Promise<Array<{ key: ItemKey; item?: Item; error?: MalformedRecord }>>;
  close(): Promise<void>;
}

/** A source of existing items: opened once per run. */
export interface Source<Item> {
  /** e.g. `sqlKeyset`, `jsonl`, `iterable`. */
  readonly kind: string;
  /** A short description for plans and reports, e.g. `emails by id`. */
  readonly description: string;
  /** The item key the source suggests when the definition gives none (e.g. the keyset columns). */
  readonly defaultKey?: (item: Item) => ItemKey;
  open(environment: SourceEnvironment): Promise<SourceReader<Item>>;
}
