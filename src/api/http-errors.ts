import { hasCode, KubeprismError, type ErrorCode, type FieldIssue } from '../runtime/index.js';

/** A request the API refuses, with the HTTP status to answer and a stable code. */
export class HttpError extends KubeprismError {
  readonly status: number;
  /** Offending paths, when the refusal is about a document (e.g. a spec that fails its schema). */
  readonly issues: readonly FieldIssue[] | undefined;

  constructor(status: number, code: ErrorCode, message: string, issues?: readonly FieldIssue[]) {
    super(code, message);
    this.status = status;
    this.issues = issues;
  }
}

/** Stable codes of the API's own refusals (the runtime's codes pass through unchanged). */
export const API_CODES = {
  badRequest: 'KP_ERR_BAD_REQUEST',
  bodyTooLarge: 'KP_ERR_BODY_TOO_LARGE',
  forbidden: 'KP_ERR_FORBIDDEN',
  methodNotAllowed: 'KP_ERR_METHOD_NOT_ALLOWED',
  notFound: 'KP_ERR_NOT_FOUND',
  internal: 'KP_ERR_INTERNAL',
  slowConsumer: 'KP_ERR_SLOW_CONSUMER',
  shuttingDown: 'KP_ERR_SHUTTING_DOWN',
} as const;

/** 400 with a reason. */
export function badRequest(message: string, issues?: readonly FieldIssue[]): HttpError {
  return new HttpError(400, API_CODES.badRequest, message, issues);
}

// Runtime and config codes → HTTP status. Anything unknown is a bug on our side: 500.
const STATUS_BY_CODE: Readonly<Partial<Record<ErrorCode, number>>> = {
  KP_ERR_NOT_FOUND: 404,
  KP_ERR_UNKNOWN_TYPE: 404,
  KP_ERR_AMBIGUOUS_TYPE: 400,
  KP_ERR_VALIDATION: 400,
  KP_ERR_INVALID_CONFIG: 400,
  KP_ERR_CONFLICT: 409,
  KP_ERR_PHASE_CONFLICT: 409,
  KP_ERR_OWNER_CONFLICT: 403,
  KP_ERR_ACCESS_DENIED: 403,
  KP_ERR_BOOKMARK_EXPIRED: 410,
};

/** The status, code, message and issues an error answers with. */
export function describeError(err: unknown): { status: number; code: ErrorCode; message: string; issues?: readonly FieldIssue[] } {
  if (err instanceof HttpError) {
    return { status: err.status, code: err.code, message: err.message, ...(err.issues ? { issues: err.issues } : {}) };
  }
  if (err instanceof KubeprismError) {
    const status = STATUS_BY_CODE[err.code] ?? 500;
    const issues = 'issues' in err && Array.isArray(err.issues) ? (err.issues as FieldIssue[]) : undefined;
    if (hasCode(err, 'KP_ERR_UNKNOWN_TYPE') && 'known' in err && Array.isArray(err.known)) {
      return { status, code: err.code, message: `${err.message}; known types: ${(err.known as string[]).join(', ')}` };
    }
    return { status, code: err.code, message: err.message, ...(issues ? { issues } : {}) };
  }
  return { status: 500, code: API_CODES.internal, message: 'internal error; see the agent log' };
}
