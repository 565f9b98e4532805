/** A plain JSON object (a YAML mapping). */
export type PlainObject = Record<string, unknown>;

/** True for a mapping read as a plain object (not a list, not null). */
export function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
