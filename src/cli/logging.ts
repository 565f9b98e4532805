import type { DestinationStream } from 'pino';
import PinoPretty from 'pino-pretty';
import { API_CODES } from '../api/http-errors.js';
import { METRICS_ADDRESS_ERROR } from '../api/metrics-server.js';
import { INVALID_CONFIG } from '../config/errors.js';
import { DISCOVERY_CODES } from '../discovery/errors.js';
import { MEMBERS_FILE_UNREADABLE } from '../agent/members-source.js';
import { createLogger, RUNTIME_OPERATIONAL_CODES, type Logger } from '../runtime/index.js';

/** `--log-format`: JSON lines, one pretty line per entry, or pretty on a terminal and JSON otherwise. */
export type LogFormat = 'json' | 'pretty' | 'auto';

/**
 * KubeprismError codes of expected operational conditions (bad input, a peer that misbehaves, a port
 * taken, a timeout): logged with their message and code, no stack. Codes not listed keep their stack
 * (KP_ERR_INTERNAL, KP_ERR_ACCESS_DENIED, KP_ERR_VALIDATION of a controller's own write…: bugs).
 */
export const OPERATIONAL_ERROR_CODES: ReadonlySet<string> = new Set([
  ...RUNTIME_OPERATIONAL_CODES,
  ...Object.values(DISCOVERY_CODES),
  INVALID_CONFIG,
  MEMBERS_FILE_UNREADABLE,
  METRICS_ADDRESS_ERROR,
  API_CODES.badRequest,
  API_CODES.bodyTooLarge,
  API_CODES.forbidden,
  API_CODES.methodNotAllowed,
  API_CODES.slowConsumer,
  API_CODES.shuttingDown,
  'KP_ERR_AGENT_START',
  'KP_ERR_API_ADDRESS',
  'KP_ERR_API_NOT_LOOPBACK',
  'KP_ERR_UNREACHABLE',
  'KP_ERR_BAD_RESPONSE',
  'KP_ERR_LISTEN',
  'KP_ERR_NOT_LOOPBACK',
  'KP_ERR_NO_UPSTREAMS',
  'KP_ERR_HEALTH_CHECK',
  'KP_ERR_TIMEOUT',
  'KP_ERR_CLOSED',
]);

/** Resolves `auto`: pretty when the output is a terminal, JSON otherwise. */
export function resolveLogFormat(format: LogFormat, isTerminal: boolean): 'json' | 'pretty' {
  if (format === 'auto') return isTerminal ? 'pretty' : 'json';
  return format;
}

/** Options of {@link rootLogger}. */
export interface RootLoggerOptions {
  readonly level: string;
  readonly format: LogFormat;
  /** Where lines go (default: stdout, fd 1). */
  readonly destination?: DestinationStream & NodeJS.WritableStream;
  /** Whether the destination is a terminal (default: stdout's isTTY). */
  readonly isTerminal?: boolean;
}

/**
 * The root logger of `kubeprism run`. Pretty printing is pino-pretty used as an in-process stream
 * (never pino.transport(): worker threads cannot load files inside the single executable).
 */
export function rootLogger(options: RootLoggerOptions): Logger {
  const format = resolveLogFormat(options.format, options.isTerminal ?? process.stdout.isTTY === true);
  const settings = { level: options.level, operationalCodes: OPERATIONAL_ERROR_CODES };
  if (format === 'json') return createLogger(settings, options.destination);
  // One line per entry, the component first; colours only on a terminal that supports them (NO_COLOR off).
  const stream = PinoPretty({
    colorize: options.destination === undefined && PinoPretty.isColorSupported,
    sync: true,
    destination: options.destination ?? 1,
    singleLine: true,
    ignore: 'component',
    messageFormat: '{if component}{component}: {end}{msg}',
  });
  return createLogger(settings, stream);
}
