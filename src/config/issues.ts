import type { FieldIssue } from '../runtime/errors.js';
import { InvalidConfigError, formatIssue } from './errors.js';

/** A position in the source text, 1-based, for pointing users at the offending line. */
export interface SourcePosition {
  line: number;
  column: number;
}

/** An issue before it is rendered: which document (0-based) it is in, and where in the text if known. */
export interface RawIssue {
  path: string;
  message: string;
  document?: number;
  position?: SourcePosition;
  /** Point at the key of `path` rather than its value (an unknown key is the mistake, not its value). */
  at?: 'key';
}

/** How issues are rendered for a file: the label of each document, and whether to name documents at all. */
export interface IssueContext {
  /** Number of documents in the file; documents are named in messages only when there are several. */
  documentCount: number;
  /** Short label for a document, e.g. `v1alpha1` or `KubePrismConfig`. */
  label(index: number): string;
  /** Where a path in a document was written, when the source text is known. */
  locate?(index: number, path: string, at?: 'key'): SourcePosition | undefined;
}

/**
 * Turns raw issues into the public scheme:
 * - `path` is dotted from the root of the document the problem is in (`""` for the whole file/document);
 * - `message` starts with `document N (Label): ` when the file has several documents (N is 1-based,
 *   counting non-empty documents) and ends with ` (line L, column C)` when the source text is known;
 * - the summary line puts the document label first: `document N (Label): path: what is wrong (line…)`.
 */
export function toInvalidConfigError(raw: readonly RawIssue[], ctx: IssueContext): InvalidConfigError {
  const issues: FieldIssue[] = [];
  const lines: string[] = [];
  const seen = new Set<string>();
  const located = raw.map((r) => ({
    ...r,
    position: r.position ?? (r.document === undefined ? undefined : ctx.locate?.(r.document, r.path, r.at)),
  }));
  // Reading order: by document, then by line; issues that point nowhere keep their order at the end.
  const key = (r: RawIssue): [number, number, number] => [
    r.document ?? Number.MAX_SAFE_INTEGER,
    r.position?.line ?? Number.MAX_SAFE_INTEGER,
    r.position?.column ?? Number.MAX_SAFE_INTEGER,
  ];
  located.sort((a, b) => compareTuples(key(a), key(b)));
  for (const r of located) {
    const pos = r.position;
    const where = pos === undefined ? '' : ` (line ${pos.line}, column ${pos.column})`;
    const named = r.document !== undefined && ctx.documentCount > 1;
    const prefix = named ? `document ${(r.document ?? 0) + 1} (${ctx.label(r.document ?? 0)}): ` : '';
    const issue = { path: r.path, message: `${prefix}${r.message}${where}` };
    // One mistake can surface twice (e.g. the YAML parser reporting it per document); say it once.
    const id = `${issue.path}\u0000${issue.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    issues.push(issue);
    lines.push(`${prefix}${formatIssue({ path: r.path, message: r.message })}${where}`);
  }
  return new InvalidConfigError(issues, lines);
}

/** Joins path segments into the dotted form used in issues. */
export function joinPath(...segments: readonly (string | number | symbol)[]): string {
  return segments
    .map(String)
    .filter((s) => s !== '')
    .join('.');
}

function compareTuples(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
