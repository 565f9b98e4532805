import { stringify } from 'yaml';
import type { DefinitionSpec } from '../api/client.js';
import type { WatchLine } from '../api/watch-stream.js';
import { matchDefinitions, readColumn } from '../runtime/definition.js';
import type { Resource } from '../runtime/resource.js';

/** How `get` and `dump` print resources. */
export type OutputFormat = 'table' | 'yaml' | 'json';

/** A watch event as the table and YAML writers mark it. */
export type EventType = 'created' | 'updated' | 'destroyed';

const COLUMN_GAP = 3;

/** One table cell: strings as they are, lists and objects as JSON (like kubectl's jsonpath), missing as empty. */
export function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  // Objects as JSON; what is left (numbers, booleans, bigints, symbols, functions) has a useful String().
  const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : `${value as number}`;
  // A newline inside a cell would break every row after it.
  return text.replace(/\s*\n\s*/g, ' ');
}

/** Column headers: NAMESPACE, TYPE, ID, VERSION and the type's print columns (upper-cased), after `*` in watch mode. */
export function tableHeader(def: DefinitionSpec | undefined, withEvents: boolean): string[] {
  const fields = ['NAMESPACE', 'TYPE', 'ID', 'VERSION', ...(def?.printColumns ?? []).map((c) => c.name.toUpperCase())];
  return withEvents ? ['*', ...fields] : fields;
}

/** A table row, like `talosctl get`: TYPE is the display type; watch mode marks `+` created, `-` destroyed. */
export function tableRow(def: DefinitionSpec | undefined, res: Resource, event?: EventType): string[] {
  const m = res.metadata;
  const values = [m.namespace, def?.displayType ?? m.type, m.id, String(m.version)];
  for (const column of def?.printColumns ?? []) values.push(cell(readColumn(res.spec, column.jsonPath)));
  if (event === undefined) return values;
  return [event === 'created' ? '+' : event === 'destroyed' ? '-' : ' ', ...values];
}

/** Aligns rows into columns separated by three spaces (the last column is not padded). */
export class TableWriter {
  readonly #widths: number[] = [];

  /** Renders rows, widening columns as needed; earlier rows keep the widths they were printed with. */
  render(rows: readonly string[][]): string {
    for (const row of rows) row.forEach((value, i) => (this.#widths[i] = Math.max(this.#widths[i] ?? 0, value.length)));
    return rows
      .map((row) =>
        row
          .map((value, i) => (i === row.length - 1 ? value : value.padEnd((this.#widths[i] ?? 0) + COLUMN_GAP)))
          .join('')
          .trimEnd(),
      )
      .map((line) => `${line}\n`)
      .join('');
  }
}

/** RFC 3339 to the second, as talosctl prints timestamps. */
function rfc3339(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z');
}

/** The `node`/`metadata`/`spec` document `talosctl get -o yaml` prints for a resource. */
function yamlDocument(node: string, res: Resource, event?: EventType): Record<string, unknown> {
  const m = res.metadata;
  const metadata: Record<string, unknown> = {
    namespace: m.namespace,
    type: m.type,
    id: m.id,
    version: m.version,
    owner: m.owner,
    phase: m.phase,
    created: rfc3339(m.created),
    updated: rfc3339(m.updated),
  };
  if (Object.keys(m.labels).length > 0) metadata.labels = m.labels;
  if (Object.keys(m.annotations).length > 0) metadata.annotations = m.annotations;
  if (m.finalizers.length > 0) metadata.finalizers = m.finalizers;
  return { node, ...(event !== undefined ? { event } : {}), metadata, spec: res.spec };
}

/** Writes resources as YAML documents separated by `---`, four-space indented like talosctl. */
export class YamlWriter {
  #first = true;

  constructor(private readonly node: string) {}

  /** One resource (with its event in watch mode). */
  render(res: Resource, event?: EventType): string {
    const text = stringify(yamlDocument(this.node, res, event), { indent: 4, lineWidth: 0, aliasDuplicateObjects: false });
    const out = this.#first ? text : `---\n${text}`;
    this.#first = false;
    return out;
  }
}

/** Pretty JSON for one value (two-space indent, newline-terminated). */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** A watch line as NDJSON (exactly what the API streams). */
export function ndjson(line: WatchLine): string {
  return `${JSON.stringify(line)}\n`;
}

/**
 * Finds the definition a user-typed name refers to, by the same rules as the agent's registry: exact type
 * first, then type, plural, singular or alias in any case. Undefined when none or several match.
 */
export function findDefinition(defs: readonly DefinitionSpec[], name: string): DefinitionSpec | undefined {
  const matches = matchDefinitions(defs, name);
  return matches.length === 1 ? matches[0] : undefined;
}
