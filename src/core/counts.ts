/** Item counts kept per partition and summed per run. */
export interface Counts {
  /** Items (and malformed records) read from the source. */
  received: number;
  /** Items `process` handled successfully. */
  processed: number;
  /** Items skipped because the ledger says they were already delivered. */
  skipped: number;
  /** Items that failed and were quarantined (a subset of the items read; see `quarantined`). */
  failed: number;
  /** Quarantine entries written (failed items plus malformed records). */
  quarantined: number;
}

export function zeroCounts(): Counts {
  return { received: 0, processed: 0, skipped: 0, failed: 0, quarantined: 0 };
}

export function addCounts(a: Counts, b: Counts): Counts {
  return {
    received: a.received + b.received,
    processed: a.processed + b.processed,
    skipped: a.skipped + b.skipped,
    failed: a.failed + b.failed,
    quarantined: a.quarantined + b.quarantined,
  };
}

/** `a - b`, field by field (what was added to `b` to reach `a`). */
export function subtractCounts(a: Counts, b: Counts): Counts {
  return {
    received: a.received - b.received,
    processed: a.processed - b.processed,
    skipped: a.skipped - b.skipped,
    failed: a.failed - b.failed,
    quarantined: a.quarantined - b.quarantined,
  };
}

/** Share of received items that ended in quarantine. */
export function failureRatio(counts: Counts): number {
  return counts.received === 0 ? 0 : counts.quarantined / counts.received;
}
