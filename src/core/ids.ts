/** Run ids: sortable by creation time, short enough to type: `r_` + base36 time + random. */
export function newRunId(now: number, random: () => number): string {
  const time = now.toString(36).padStart(9, '0');
  let suffix = '';
  for (let i = 0; i < 6; i++) suffix += Math.floor(random() * 36).toString(36);
  return `r_${time}${suffix}`;
}
