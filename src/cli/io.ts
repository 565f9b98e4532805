import { readFile } from 'node:fs/promises';
import { KubeprismError } from '../runtime/errors.js';

/** Where a command writes and what it reads from its environment; the process in production, buffers in tests. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted when the user interrupts (Ctrl-C): watch commands end cleanly on it. */
  readonly signal?: AbortSignal;
  /** What `-` reads (default: the process's standard input). */
  readonly stdin?: AsyncIterable<string | Buffer>;
  /** The clock AGE columns are measured against (default: `Date.now`). */
  readonly now?: () => number;
}

/** The process exit codes, as `--help` and the README document them. */
export const EXIT = {
  /** Done; the check passed. */
  ok: 0,
  /** Invalid input or a failed check: a rejected or unreadable file, an unknown type or id, an error from the agent. */
  failed: 1,
  /** The command line itself is wrong: unknown command or flag, missing argument, bad flag value. */
  usage: 2,
  /** The agent's debug API cannot be reached: nothing listening, no socket file, no answer in time. */
  unreachable: 3,
} as const;

/** A command failed in a way already explained to the user; carries the exit code. */
export class CliExit extends KubeprismError {
  readonly exitCode: number;

  constructor(exitCode: number, message = '') {
    super('KP_ERR_CLI_EXIT', message);
    this.exitCode = exitCode;
  }
}

/** A command line that cannot be run as written (exit 2), found after commander's own checks. */
export class UsageError extends CliExit {
  constructor(message: string) {
    super(EXIT.usage, message);
  }
}

/** Bound on what a command reads from a file or standard input (machine configs and members files are small). */
const MAX_INPUT_BYTES = 16 * 1024 * 1024;

/** How a file argument is named in messages: `-` is standard input. */
export function inputName(file: string): string {
  return file === '-' ? 'standard input' : file;
}

/** Reads a file argument as text; `-` reads standard input to its end. Unreadable: exit 1 naming the file. */
export async function readInput(io: CliIo, file: string): Promise<string> {
  if (file !== '-') {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      throw new CliExit(EXIT.failed, `cannot read ${file}: ${(err as Error).message}`);
    }
  }
  const parts: Buffer[] = [];
  let size = 0;
  const input: AsyncIterable<string | Buffer> = io.stdin ?? process.stdin;
  for await (const chunk of input) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > MAX_INPUT_BYTES) throw new CliExit(EXIT.failed, `standard input is larger than ${MAX_INPUT_BYTES} bytes`);
    parts.push(buf);
  }
  return Buffer.concat(parts).toString('utf8');
}
