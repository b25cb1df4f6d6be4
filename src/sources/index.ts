export { sqlKeyset, type SqlKeysetOptions } from './sql-keyset.js';
export { iterable, IterableReadError, type IterableContext, type IterableSourceOptions } from './iterable.js';
export { jsonl, type JsonlOptions } from './jsonl.js';
