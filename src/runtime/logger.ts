import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** A logger that drops everything: the default for embedders and tests that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** The agent's root logger: JSON lines on stdout, `component` naming each part in child loggers. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino({ base: undefined, ...options });
}

/** A child logger for one component; every line it writes carries `component: name`. */
export function componentLogger(parent: Logger, name: string): Logger {
  return parent.child({ component: name });
}
