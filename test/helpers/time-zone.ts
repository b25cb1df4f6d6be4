/**
 * Runs `body` with the process in time zone `zone` (Node applies a change of `process.env.TZ` at
 * once), then puts the zone back, so that a test for zone-dependent code fails on any machine, not
 * only on one whose zone is far from UTC. The zone is the process's: the file's tests that use it
 * must not run concurrently with others that read local time.
 */
export async function inTimeZone<T>(zone: string, body: () => T | Promise<T>): Promise<T> {
  const before = process.env.TZ;
  process.env.TZ = zone;
  try {
    return await body();
  } finally {
    if (before === undefined) delete process.env.TZ;
    else process.env.TZ = before;
  }
}
