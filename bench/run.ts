/**
 * `npm run bench` — every benchmark, printed as Markdown tables with ratios against a baseline
 * measured in the same run. `--quick` runs a small smoke version (CI).
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

const quick = process.argv.includes('--quick');
const args = quick ? ['--rows', '50000', '--runs', '1'] : ['--rows', '1000000', '--runs', '7'];

console.log(`# Sluice benchmarks${quick ? ' (quick smoke run)' : ''}\n`);
console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}\n`);
execFileSync(process.execPath, ['--import', 'tsx', new URL('./engine-overhead.ts', import.meta.url).pathname, ...args], { stdio: 'inherit' });
