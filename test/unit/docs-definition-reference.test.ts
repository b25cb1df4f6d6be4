import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { definitionSchema } from '../../src/core/definition.js';

/** A zod schema as far as this walk needs it (zod 4's `def`). */
type Walked = { def: { type: string; innerType?: Walked; shape?: Record<string, Walked>; options?: Walked[]; valueType?: Walked } };

/** Every option path the schema accepts: nested objects as `a.b`, a record's values as `a.<param>.b`. */
function optionPaths(schema: Walked, prefix = ''): string[] {
  let s = schema;
  while (['optional', 'default', 'nullable'].includes(s.def.type)) s = s.def.innerType!;
  if (s.def.type === 'object')
    return Object.entries(s.def.shape!).flatMap(([key, value]) => [`${prefix}${key}`, ...optionPaths(value, `${prefix}${key}.`)]);
  if (s.def.type === 'union') return s.def.options!.flatMap((option) => optionPaths(option, prefix));
  if (s.def.type === 'record') return optionPaths(s.def.valueType!, `${prefix}<param>.`);
  return [];
}

describe('docs/embedding.md', () => {
  it('its reference of defineBackfill options lists exactly the options the schema accepts', () => {
    const doc = readFileSync(new URL('../../docs/embedding.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## Reference: `defineBackfill` options'));
    const documented = [...section.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!);
    const accepted = optionPaths(definitionSchema as unknown as Walked);
    assert.ok(accepted.length > 30, `the walk found the schema's options (${accepted.length})`);
    assert.deepEqual([...new Set(documented)].sort(), [...new Set(accepted)].sort());
  });
});
