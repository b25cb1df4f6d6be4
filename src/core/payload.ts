/** Largest payload kept whole in quarantine; larger items keep a sample and are refetched on replay. */
export const MAX_QUARANTINE_PAYLOAD = 256 * 1024;
const SAMPLE = 2048;

/** Serialises an item for quarantine without ever throwing (bigints, cycles). */
export function quarantinePayload(item: unknown): string {
  let text: string;
  try {
    const seen = new WeakSet<object>();
    text =
      JSON.stringify(item, (_key, value: unknown) => {
        if (typeof value === 'bigint') return value.toString();
        if (value && typeof value === 'object') {
          if (seen.has(value)) return '[circular]';
          seen.add(value);
        }
        return value;
      }) ?? String(item);
  } catch {
    text = String(item);
  }
  return text.length <= MAX_QUARANTINE_PAYLOAD ? text : text.slice(0, SAMPLE);
}
