import type { z } from 'zod';
import { describeValue } from './errors.js';
import { joinPath, type RawIssue } from './issues.js';

import { isPlainObject, type PlainObject } from '../util/plain-object.js';

export { isPlainObject, type PlainObject };

/**
 * A copy without `null` mapping values: Go's YAML decoder reads `key: ~` like a missing key, and so do we.
 * List items are kept (a `null` address is still an error).
 */
export function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNulls);
  if (!isPlainObject(value)) return value;
  const out: PlainObject = {};
  for (const [k, v] of Object.entries(value)) {
    // defineProperty, so a `__proto__` key stays a plain key instead of replacing the prototype.
    if (v !== null) Object.defineProperty(out, k, { value: dropNulls(v), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Fallback messages for zod issues the schemas do not word themselves. */
function fallbackMessage(iss: { code?: string; expected?: unknown; input?: unknown }): string | undefined {
  if (iss.code !== 'invalid_type') return undefined;
  if (iss.input === undefined) return 'required';
  const names: Record<string, string> = { object: 'a mapping of fields', array: 'a list' };
  const expected = names[String(iss.expected)] ?? `a ${String(iss.expected)}`;
  return `must be ${expected} (got ${describeValue(iss.input)})`;
}

/**
 * Validates `value` (found at `base` in document `document`) against `schema`; pushes every problem onto
 * `issues` with paths dotted from the document root, and returns the data only when there was none.
 */
export function readWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  issues: RawIssue[],
  where: { document?: number; base?: string } = {},
): z.output<S> | undefined {
  const result = schema.safeParse(value, { error: fallbackMessage });
  if (result.success) return result.data;
  for (const iss of result.error.issues) {
    issues.push({ document: where.document, path: joinPath(where.base ?? '', ...iss.path), message: iss.message });
  }
  return undefined;
}
