import type { DestinationStream } from 'pino';
import { createLogger, OPERATIONAL_ERROR_CODES, type Logger } from '../runtime/index.js';

/** `--log-format`: JSON lines, one pretty line per entry, or pretty on a terminal and JSON otherwise. */
export type LogFormat = 'json' | 'pretty' | 'auto';

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
 * (never pino.transport(): worker threads cannot load files inside the single executable), loaded only
 * when asked for: a JSON-logging agent (a service's usual case) never holds its code.
 */
export async function rootLogger(options: RootLoggerOptions): Promise<Logger> {
  const format = resolveLogFormat(options.format, options.isTerminal ?? process.stdout.isTTY === true);
  const settings = { level: options.level, operationalCodes: OPERATIONAL_ERROR_CODES };
  if (format === 'json') return createLogger(settings, options.destination);
  const { default: PinoPretty } = await import('pino-pretty');
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
