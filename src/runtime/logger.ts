import { OPERATIONAL_ERROR_CODES } from './error-codes.js';
import { pino, stdSerializers, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

// The component of a logger made by componentLogger, inherited by its children (pino children are
// prototype-linked to their parent). Loggers whose root writes it through the mixin below carry the
// mark; for any other pino logger the component falls back to an ordinary binding.
const COMPONENT = Symbol('kubeprism.component');
const WRITES_COMPONENT = Symbol('kubeprism.writesComponent');

type Tagged = Logger & { [COMPONENT]?: string; [WRITES_COMPONENT]?: true };

/**
 * Node system and network error codes that name an expected operational condition (a file missing, a
 * port taken, a peer gone, a timeout): logged as a message and a code, without a stack trace.
 */
export const OPERATIONAL_SYSTEM_CODES: ReadonlySet<string> = new Set([
  // files
  'ENOENT', 'EISDIR', 'ENOTDIR', 'EACCES', 'EPERM', 'EEXIST', 'EROFS', 'ENOSPC', 'EDQUOT', 'EMFILE', 'ENFILE', 'ELOOP',
  'ENAMETOOLONG', 'EBUSY', 'EIO',
  // sockets and name resolution
  'EADDRINUSE', 'EADDRNOTAVAIL', 'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH',
  'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'ENOTCONN', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EPROTO',
  // Node and undici (fetch) names for the same conditions
  'ABORT_ERR', 'ERR_SOCKET_CONNECTION_TIMEOUT', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_TLS_CERT_ALTNAME_INVALID',
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED',
  'UND_ERR_ABORTED',
  // certificate verification (OpenSSL's names)
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT',
]); // prettier-ignore

/** Code prefixes of whole families of peer-caused errors: TLS alerts, malformed HTTP from the peer. */
const OPERATIONAL_CODE_PREFIXES = ['ERR_SSL_', 'HPE_'];

function isErrorLike(value: unknown): value is Error & { code?: unknown; cause?: unknown } {
  return value instanceof Error || (typeof value === 'object' && value !== null && 'message' in value && 'stack' in value);
}

/**
 * Whether `err` is an expected operational condition rather than a bug. The error's own code decides:
 * a Node system code above or one of `codes` (KubeprismError codes). An error without a code of its own
 * (fetch's "fetch failed", a plain wrapper) is judged by its `cause`.
 */
export function isOperationalError(err: unknown, codes: ReadonlySet<string> = OPERATIONAL_ERROR_CODES): boolean {
  for (let e: unknown = err, depth = 0; isErrorLike(e) && depth < 8; e = e.cause, depth++) {
    const code = e.code;
    if (typeof code === 'string' && code !== '') {
      return OPERATIONAL_SYSTEM_CODES.has(code) || codes.has(code) || OPERATIONAL_CODE_PREFIXES.some((p) => code.startsWith(p));
    }
  }
  return false;
}

/**
 * pino's `err` serializer with one change: an operational error (see isOperationalError) loses its stack
 * (and its aggregated errors' stacks), keeping type, message (with its causes) and code; bugs keep theirs.
 */
export function errorSerializer(codes: ReadonlySet<string> = OPERATIONAL_ERROR_CODES): (err: unknown) => unknown {
  return (err: unknown) => {
    if (!isErrorLike(err)) return err;
    const out = stdSerializers.err(err) as unknown as Record<string, unknown>;
    if (!isOperationalError(err, codes)) return out;
    delete out.stack;
    if (Array.isArray(out.aggregateErrors)) for (const inner of out.aggregateErrors as Array<Record<string, unknown>>) delete inner.stack;
    return out;
  };
}

/** Options of {@link createLogger}: pino's, plus the error codes that count as operational. */
export interface CreateLoggerOptions extends LoggerOptions {
  /** KubeprismError codes logged without a stack (default: the runtime's own). */
  readonly operationalCodes?: ReadonlySet<string>;
}

/** A logger that drops everything: the default for embedders and tests that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * The agent's root logger: JSON lines on stdout (or `destination`) with ISO-8601 times, one `component`
 * key per line for loggers made with componentLogger, and stack traces only for real bugs.
 */
export function createLogger(options: CreateLoggerOptions = {}, destination?: DestinationStream): Logger {
  const { operationalCodes, mixin, serializers, ...rest } = options;
  const pinoOptions: LoggerOptions = {
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    ...rest,
    serializers: { err: errorSerializer(operationalCodes), ...serializers },
    mixin(mergeObject, level, logger) {
      const own = mixin ? mixin(mergeObject, level, logger) : {};
      const component = (logger as Tagged)[COMPONENT];
      return component === undefined ? own : { component, ...own };
    },
  };
  const logger = (destination ? pino(pinoOptions, destination) : pino(pinoOptions)) as Tagged;
  logger[WRITES_COMPONENT] = true;
  return logger;
}

/**
 * A child logger for one component; every line it writes carries `component: name`. A component made
 * inside another one replaces it (the balancer inside its controller logs `loadbalancer`): one key per
 * line where pino's bindings would repeat it, and the same value JSON parsers read before (the last
 * duplicate key won), so log queries on component names keep working.
 */
export function componentLogger(parent: Logger, name: string): Logger {
  // A logger not made by createLogger (an embedder's own pino) has no mixin: bind the key instead.
  const child = ((parent as Tagged)[WRITES_COMPONENT] === true ? parent.child({}) : parent.child({ component: name })) as Tagged;
  child[COMPONENT] = name;
  return child;
}
