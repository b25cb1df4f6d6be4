#!/usr/bin/env node
// The `sluice` command: the built CLI when present (npm install builds it), else the TypeScript
// source through tsx, so that a checkout works before its first build.
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
