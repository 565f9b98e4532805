import { KubeprismError } from '../runtime/errors.js';

/** Where a command writes and what it reads from its environment; the process in production, buffers in tests. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted when the user interrupts (Ctrl-C): watch commands end cleanly on it. */
  readonly signal?: AbortSignal;
}

/** A command failed in a way already explained to the user; carries the exit code. */
export class CliExit extends KubeprismError {
  readonly exitCode: number;

  constructor(exitCode: number, message = '') {
    super('KP_ERR_CLI_EXIT', message);
    this.exitCode = exitCode;
  }
}
