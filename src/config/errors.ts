import { KubeprismError, type FieldIssue } from '../runtime/errors.js';

/** Stable code of every config rejection; callers and the API match on it, never on message text. */
export const INVALID_CONFIG = 'KP_ERR_INVALID_CONFIG';

/** A machine config or members file was rejected; `issues` lists every problem found, not just the first. */
export class InvalidConfigError extends KubeprismError {
  /** Every problem, each with a dotted path from its document root (`""` for the whole file or document). */
  readonly issues: readonly FieldIssue[];

  /**
   * `lines` is the human summary, one line per issue; by default each issue renders as `path: message`.
   * (Multi-document configs pass their own lines so the document label can come before the path.)
   */
  constructor(issues: readonly FieldIssue[], lines: readonly string[] = issues.map(formatIssue)) {
    super(INVALID_CONFIG, lines.length > 0 ? lines.join('\n') : 'invalid config');
    this.issues = issues;
  }
}

/** Renders one issue as a summary line: `path: message`, or just the message for the whole file. */
export function formatIssue(issue: FieldIssue): string {
  return issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`;
}

/** Renders a value for an error message: strings quoted, the rest by type, long things cut short. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}
