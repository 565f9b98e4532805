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
}

/** How issues are rendered for a file: the label of each document, and whether to name documents at all. */
export interface IssueContext {
  /** Number of documents in the file; documents are named in messages only when there are several. */
  documentCount: number;
  /** Short label for a document, e.g. `v1alpha1` or `KubePrismConfig`. */
  label(index: number): string;
  /** Where a path in a document was written, when the source text is known. */
  locate?(index: number, path: string): SourcePosition | undefined;
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
  for (const r of raw) {
    const pos = r.position ?? (r.document === undefined ? undefined : ctx.locate?.(r.document, r.path));
    const where = pos === undefined ? '' : ` (line ${pos.line}, column ${pos.column})`;
    const prefix =
      r.document !== undefined && ctx.documentCount > 1 ? `document ${r.document + 1} (${ctx.label(r.document)}): ` : '';
    issues.push({ path: r.path, message: `${prefix}${r.message}${where}` });
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
