import { stringify } from 'yaml';
import type { DefinitionSpec } from '../api/client.js';
import type { WatchLine } from '../api/watch-stream.js';
import { matchDefinitions } from '../runtime/definition.js';
import type { Resource } from '../runtime/resource.js';
import type { EventType } from './columns.js';

/** How `get` prints resources (`jsonpath=EXPR` is parsed apart). */
export type OutputFormat = 'table' | 'wide' | 'yaml' | 'json' | 'name' | 'jsonpath';

/** The `-o` values `get` accepts, for help and completion. */
export const GET_OUTPUT_FORMATS = ['table', 'wide', 'yaml', 'json', 'name', 'jsonpath='] as const;

const COLUMN_GAP = 3;

/**
 * Aligns rows into columns separated by three spaces (the last column is not padded). Without fixed
 * widths, each render sizes the columns to what it is given. With `fixedWidths` (a watch), the first
 * render settles the widths (those least widths, the header and the first rows) and later rows keep
 * them: a longer cell pushes the rest of its own row only, never the columns of the rows around it.
 */
export class TableWriter {
  readonly #widths: number[];
  readonly #fixed: boolean;
  #settled = false;

  constructor(fixedWidths?: readonly number[]) {
    this.#widths = [...(fixedWidths ?? [])];
    this.#fixed = fixedWidths !== undefined;
  }

  /** Renders rows into aligned lines. */
  render(rows: readonly string[][]): string {
    if (!this.#settled) {
      for (const row of rows) row.forEach((value, i) => (this.#widths[i] = Math.max(this.#widths[i] ?? 0, value.length)));
      this.#settled = this.#fixed;
    }
    const widths = this.#widths;
    return rows
      .map((row) => {
        let line = '';
        let overflow = 0;
        row.forEach((value, i) => {
          if (i === row.length - 1) {
            line += value;
            return;
          }
          // What an earlier cell took beyond its column is taken back from this one's padding, if it can be,
          // so the row falls back into line; cells stay at least three spaces apart.
          const target = (widths[i] ?? value.length) + COLUMN_GAP - overflow;
          const padded = Math.max(target, value.length + COLUMN_GAP);
          overflow = Math.max(0, padded - target);
          line += value.padEnd(padded);
        });
        return `${line.trimEnd()}\n`;
      })
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

/** Writes resources as one YAML stream: documents separated by `---`, four-space indented like talosctl. */
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

/** kubectl's JSON shape of several resources: one document, `{"apiVersion": "v1", "kind": "List", "items": [...]}`. */
export function listDocument(items: readonly Resource[]): { apiVersion: 'v1'; kind: 'List'; items: readonly Resource[] } {
  return { apiVersion: 'v1', kind: 'List', items };
}

/** Pretty JSON for one value (two-space indent, newline-terminated). */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** A watch line as NDJSON (exactly what the API streams). */
export function ndjson(line: WatchLine): string {
  return `${JSON.stringify(line)}\n`;
}

/** `-o name`: `<singular alias>/<id>` (e.g. `kubeprismstatus/k8s-loadbalancer`), which `get` accepts back. */
export function resourceName(def: DefinitionSpec | undefined, res: Resource): string {
  const singular = def?.aliases[0] ?? def?.displayType.toLowerCase() ?? res.metadata.type.toLowerCase();
  return `${singular}/${res.metadata.id}`;
}

/**
 * Finds the definition a user-typed name refers to, by the same rules as the agent's registry: exact type
 * first, then type, plural, singular or alias in any case. Undefined when none or several match.
 */
export function findDefinition(defs: readonly DefinitionSpec[], name: string): DefinitionSpec | undefined {
  const matches = matchDefinitions(defs, name);
  return matches.length === 1 ? matches[0] : undefined;
}
