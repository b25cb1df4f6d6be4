#!/usr/bin/env node
// The `sluice` command: the built CLI. The package ships it built; a checkout builds it at
// `npm install` (the `prepare` script), so nothing compiles TypeScript at run time.
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(built)) {
  process.stderr.write('sluice: dist/cli/main.js is missing (a checkout that was never built)\nhint: run `npm run build` in the package\n');
  process.exit(1);
}
await import(built.href);
