import { LineCounter, isMap, isNode, isScalar, parseAllDocuments, visit, type Document, type Node } from 'yaml';
import { excessiveYamlNesting, MAX_YAML_NESTING } from '../util/yaml-depth.js';
import type { RawIssue, SourcePosition } from './issues.js';

/** YAML text read into plain JSON-compatible documents, with a way back to where each path was written. */
export interface YamlDocuments {
  /** Non-empty documents in file order, as plain data. */
  documents: unknown[];
  /** Problems that make the text unusable (syntax, unsupported values); empty when the text is fine. */
  issues: RawIssue[];
  /** Where `path` (dotted, from the root of document `index`) was written, when it can be found. */
  locate: (index: number, path: string, at?: 'key') => SourcePosition | undefined;
}

/** Deeper than any real config nests; the bound keeps hostile input from exhausting the stack. */
const MAX_DEPTH = 200;

/**
 * Options shared by every read: YAML 1.2 core types (plus Go's `<<` merge keys), no console warnings.
 * Duplicate keys are found by {@link duplicateKeys} instead of the library's `uniqueKeys`, whose
 * pairwise check is quadratic: a 6,000-key mapping would hold the event loop (and the proxy) for seconds.
 */
const YAML_OPTIONS = { schema: 'core', merge: true, prettyErrors: false, logLevel: 'error', uniqueKeys: false } as const;

/** Start offsets of every scalar key that repeats an earlier key of the same mapping; linear time. */
export function duplicateKeys(doc: Document): number[] {
  const offsets: number[] = [];
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        const key = pair.key as Node | null;
        if (!isScalar(key) || key.value === '<<') continue;
        const id = `${typeof key.value}:${String(key.value)}`;
        if (seen.has(id)) offsets.push(key.range?.[0] ?? 0);
        seen.add(id);
      }
    },
  });
  return offsets;
}

/**
 * Reads (possibly multi-document) YAML text. Syntax errors become issues with path `""` and the line and
 * column in the message; empty documents (a stray `---`, a `~`) are dropped so they do not count.
 */
export function readYamlDocuments(text: string): YamlDocuments {
  const lineCounter = new LineCounter();
  const issues: RawIssue[] = [];
  const kept: Document.Parsed[] = [];
  const documents: unknown[] = [];
  const at = (offset: number): SourcePosition => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };

  // Nesting the parser's recursion cannot take aborts the process instead of throwing: refuse it unparsed.
  const deep = excessiveYamlNesting(text);
  if (deep !== undefined) {
    const message = `not valid YAML: nested more than ${MAX_YAML_NESTING} levels deep`;
    return { documents, issues: [{ path: '', message, position: deep }], locate: () => undefined };
  }

  let parsed: Document.Parsed[];
  try {
    const stream = parseAllDocuments(text, { ...YAML_OPTIONS, lineCounter });
    parsed = Array.isArray(stream) ? stream : [];
  } catch (err) {
    // The parser itself gave up (e.g. absurd nesting); that is still just unreadable input.
    return { documents, issues: [{ path: '', message: `not valid YAML: ${errorText(err)}` }], locate: () => undefined };
  }

  for (const doc of parsed) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const lp = e.linePos?.[0];
        const position = lp === undefined ? at(e.pos[0]) : { line: lp.line, column: lp.col };
        issues.push({ path: '', message: `not valid YAML: ${firstLine(e.message)}`, position });
      }
      continue;
    }
    const duplicates = duplicateKeys(doc);
    if (duplicates.length > 0) {
      for (const offset of duplicates) issues.push({ path: '', message: 'not valid YAML: Map keys must be unique', position: at(offset) });
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      issues.push({ path: '', message: `not valid YAML: ${errorText(err)}` });
      continue;
    }
    if (value === null || value === undefined) continue;
    const index = documents.length;
    const bad = jsonProblems(value);
    for (const b of bad) issues.push({ ...b, document: index, position: locateIn(doc, b.path, at) });
    kept.push(doc);
    // A JSON round trip leaves plain data only: aliases no longer share one object between two places.
    documents.push(bad.length === 0 ? JSON.parse(JSON.stringify(value)) : value);
  }

  return {
    documents,
    issues,
    locate: (index, path, where) => {
      const doc = kept[index];
      if (doc === undefined) return undefined;
      return (where === 'key' ? locateKey(doc, path, at) : undefined) ?? locateIn(doc, path, at);
    },
  };
}

/** Finds the node at a dotted path (or its nearest existing ancestor) and returns where it starts. */
function locateIn(doc: Document.Parsed, path: string, at: (offset: number) => SourcePosition): SourcePosition | undefined {
  const segments = path === '' ? [] : path.split('.');
  for (let n = segments.length; n >= 0; n--) {
    const keys = segments.slice(0, n).map((s) => (/^\d+$/u.test(s) ? Number(s) : s));
    let node: unknown;
    try {
      node = n === 0 ? doc.contents : doc.getIn(keys, true);
    } catch {
      node = undefined;
    }
    if (isNode(node) && node.range) return at(node.range[0]);
  }
  return undefined;
}

/** Where the key of the last step of `path` was written (the key itself, not its value). */
function locateKey(doc: Document.Parsed, path: string, at: (offset: number) => SourcePosition): SourcePosition | undefined {
  const segments = path === '' ? [] : path.split('.');
  const last = segments.pop();
  let parent: unknown;
  try {
    parent = segments.length === 0 ? doc.contents : doc.getIn(segments, true);
  } catch {
    return undefined;
  }
  if (last === undefined || !isMap(parent)) return undefined;
  const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === last);
  const key = pair?.key as Node | undefined;
  return key?.range ? at(key.range[0]) : undefined;
}

/**
 * Documents are stored and served as JSON, so anything JSON cannot carry (`.inf`, `!!binary`, recursive
 * aliases) is refused here with its path rather than silently changing on the way through.
 */
function jsonProblems(value: unknown): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const ancestors = new Set<object>();
  const walk = (v: unknown, path: string[], depth: number): void => {
    const problem = (message: string): void => void problems.push({ path: path.join('.'), message });
    if (depth > MAX_DEPTH) return problem(`nested more than ${MAX_DEPTH} levels deep`);
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) problem(`${String(v)} is not supported (JSON cannot carry it)`);
      return;
    }
    if (typeof v !== 'object') return problem(`unsupported value of type ${typeof v}`);
    if (ancestors.has(v)) return problem('a YAML alias refers to its own anchor (recursive data)');
    if (!Array.isArray(v) && Object.getPrototypeOf(v) !== Object.prototype) {
      return problem('unsupported YAML value (binary, set or other non-JSON type)');
    }
    ancestors.add(v);
    const entries: [string, unknown][] = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
    for (const [k, child] of entries) walk(child, [...path, k], depth + 1);
    ancestors.delete(v);
  };
  walk(value, [], 0);
  return problems;
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/u, '').trim();
}

function errorText(err: unknown): string {
  return firstLine(err instanceof Error ? err.message : String(err));
}
