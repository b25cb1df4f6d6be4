import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = new URL('../../', import.meta.url).pathname;
const HEAVY = ['better-sqlite3', 'pg', 'fastify', 'prom-client'];

/** The heavy packages a fresh process has loaded after importing the entry point (CommonJS ones show in require.cache). */
function heavyLoadedBy(entry: string): string[] {
  const script = `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(new URL(`src/${entry}.ts`, `file://${ROOT}`).href)});
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    process.stdout.write(JSON.stringify(${JSON.stringify(HEAVY)}.filter((name) => loaded.some((path) => path.includes('/node_modules/' + name + '/')))));`;
  return JSON.parse(
    execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' }),
  ) as string[];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : /\.(ts|mts|mjs|js)$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

describe('entry points', () => {
  it("importing sluice loads none of the adapters' libraries; each adapter's entry point loads its own", () => {
    assert.deepEqual(heavyLoadedBy('index'), []);
    assert.deepEqual(heavyLoadedBy('sqlite'), ['better-sqlite3']);
    assert.deepEqual(heavyLoadedBy('postgres'), ['pg']);
    assert.ok(heavyLoadedBy('server').includes('fastify'));
    assert.deepEqual(heavyLoadedBy('observe'), ['prom-client']);
  });

  it('the examples import Sluice only through its public entry points, as a user would', () => {
    const deep: string[] = [];
    for (const file of sourceFiles(join(ROOT, 'examples'))) {
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
        const isPublic = spec === 'sluice' || /^sluice\/(sqlite|postgres|server|observe)$/.test(spec!);
        // An example's own modules are beside it (examples/…); anything else relative reaches into the repository.
        const isOwn = spec!.startsWith('.') && resolve(dirname(file), spec!).startsWith(join(ROOT, 'examples') + '/');
        const isPackage = !spec!.startsWith('.') && !spec!.startsWith('sluice');
        if (!isPublic && !isOwn && !isPackage) deep.push(`${relative(ROOT, file)}: ${spec}`);
      }
    }
    assert.deepEqual(deep, []);
  });

  it('the CLI imports Sluice only through its public entry points: whatever the CLI does, a program can do', () => {
    const cli = join(ROOT, 'src', 'cli');
    const entries = ['index', 'sqlite', 'postgres', 'server', 'observe'].map((name) => join(ROOT, 'src', `${name}.js`));
    const deep: string[] = [];
    for (const file of sourceFiles(cli)) {
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
        if (!spec!.startsWith('.')) continue; // an npm package or a node: builtin
        const target = resolve(dirname(file), spec!);
        if (!target.startsWith(cli + '/') && !entries.includes(target)) deep.push(`${relative(ROOT, file)}: ${spec}`);
      }
    }
    assert.ok(sourceFiles(cli).length > 20, "the CLI's files were found");
    assert.deepEqual(deep, []);
  });

  it("the core imports no adapter (stores, sources, signals, server, observe, CLI) and no adapter's library", () => {
    const core = join(ROOT, 'src', 'core');
    const outside: string[] = [];
    for (const file of sourceFiles(core)) {
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
        const leaves = spec!.startsWith('.') && !resolve(dirname(file), spec!).startsWith(core + '/');
        if (leaves || HEAVY.includes(spec!) || spec === 'commander' || spec === 'pino') outside.push(`${relative(ROOT, file)}: ${spec}`);
      }
    }
    assert.deepEqual(outside, []);
  });
});
