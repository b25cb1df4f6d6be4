/** Milliseconds as a person reads them in a decision's reason: 1.2, 17.6, 240 (a computed budget has no 15 decimals). */
export function formatMs(ms: number): string {
  return ms < 100 ? String(Math.round(ms * 10) / 10) : String(Math.round(ms));
}
