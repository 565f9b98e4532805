import type { ErrorCode } from './error-codes.js';

/** One error base for the whole project: callers match on the stable `code`, never on message text. */
export class KubeprismError extends Error {
  /** Stable machine-readable code, one of `ERROR_CODES` (e.g. `KP_ERR_NOT_FOUND`). */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A path into a document or spec (dotted, `""` for the whole thing) and what is wrong there. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** The resource (or type) asked for does not exist. */
export class NotFoundError extends KubeprismError {
  constructor(message: string) {
    super('KP_ERR_NOT_FOUND', message);
  }
}

/** The write lost a race or contradicts the stored state (already exists, stale version, pending finalizers). */
export class ConflictError extends KubeprismError {
  constructor(message: string) {
    super('KP_ERR_CONFLICT', message);
  }
}

/** The resource belongs to another owner than the one writing it. */
export class OwnerConflictError extends KubeprismError {
  constructor(message: string) {
    super('KP_ERR_OWNER_CONFLICT', message);
  }
}

/** The resource is in a phase that does not allow this write (e.g. updating one that is tearing down). */
export class PhaseConflictError extends KubeprismError {
  constructor(message: string) {
    super('KP_ERR_PHASE_CONFLICT', message);
  }
}

/** Input failed validation; `issues` names every offending path. */
export class ValidationError extends KubeprismError {
  readonly issues: readonly FieldIssue[];

  constructor(message: string, issues: readonly FieldIssue[]) {
    super('KP_ERR_VALIDATION', message);
    this.issues = issues;
  }
}

/** A type name that matches no registered resource definition. */
export class UnknownTypeError extends KubeprismError {
  readonly known: readonly string[];

  constructor(name: string, known: readonly string[]) {
    super('KP_ERR_UNKNOWN_TYPE', `unknown resource type "${name}"`);
    this.known = known;
  }
}

/** A type name that matches more than one resource definition. */
export class AmbiguousTypeError extends KubeprismError {
  readonly candidates: readonly string[];

  constructor(name: string, candidates: readonly string[]) {
    super('KP_ERR_AMBIGUOUS_TYPE', `resource type "${name}" is ambiguous: ${candidates.join(', ')}`);
    this.candidates = candidates;
  }
}

/** A controller touched a resource it did not declare as input or output. */
export class AccessDeniedError extends KubeprismError {
  constructor(message: string) {
    super('KP_ERR_ACCESS_DENIED', message);
  }
}

/** A definition, namespace or controller could not be registered (bad name, duplicate exclusive output…). */
export class RegistrationError extends KubeprismError {
  constructor(message: string) {
    super('KP_ERR_REGISTRATION', message);
  }
}

/** A watcher fell further behind than the event history holds; it must re-list and watch again. */
export class WatchOverrunError extends KubeprismError {
  constructor(message: string) {
    super('KP_ERR_WATCH_OVERRUN', message);
  }
}

/** A watch bookmark that cannot be honoured: too old for the history, from another store instance or kind, or malformed. */
export class BookmarkExpiredError extends KubeprismError {
  constructor(message: string) {
    super('KP_ERR_BOOKMARK_EXPIRED', message);
  }
}

/** True when `err` is a KubeprismError carrying `code` (only known codes compile). */
export function hasCode(err: unknown, code: ErrorCode): boolean {
  return err instanceof KubeprismError && err.code === code;
}
