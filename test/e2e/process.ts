import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

/** The binary as users get it: bin/kubeprism.js over the compiled dist/ (built by `npm run build`). */
export const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'kubeprism.js');

/** How to start kubeprism: node on bin/kubeprism.js by default; a single executable or an installed bin otherwise. */
export type Launcher = readonly [command: string, ...leadingArgs: string[]];

const NODE_BIN: Launcher = [process.execPath, BIN];

/** Fails clearly when dist/ has not been built, instead of a confusing module-not-found from the child. */
export function assertBuilt(): void {
  const main = path.resolve(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run "npm run build" before the end-to-end tests`);
}

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  // The developer's own KUBEPRISM_API must not leak into the tests; a test's own setting wins.
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.KUBEPRISM_API;
  return { ...env, ...extra };
}

/** What a finished command printed, and how it exited. */
export interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `kubeprism ARGS` to completion (killed, and failing, after `timeoutMs`). */
export function kubeprism(
  args: readonly string[],
  options: { env?: Record<string, string>; timeoutMs?: number; launcher?: Launcher; cwd?: string } = {},
): Promise<CommandResult> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const [command, ...leading] = options.launcher ?? NODE_BIN;
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...leading, ...args], {
      env: childEnv(options.env ?? {}),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kubeprism ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * A long-running `kubeprism` process (the agent, or `get -w`): its output as it arrives, event-driven
 * waits on it, and a stop that always reaps the child.
 */
export class Spawned {
  stdout = '';
  stderr = '';
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #wakers = new Set<() => void>();

  constructor(args: readonly string[], env: Record<string, string> = {}, launcher: Launcher = NODE_BIN, cwd?: string) {
    const [command, ...leading] = launcher;
    this.child = spawn(command, [...leading, ...args], {
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(cwd !== undefined ? { cwd } : {}),
    });
    this.child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      this.stdout += s;
      this.#wake();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      this.stderr += s;
      this.#wake();
    });
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        resolve({ code, signal });
        this.#wake();
      });
    });
  }

  #wake(): void {
    for (const wake of [...this.#wakers]) wake();
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Complete stdout lines so far. */
  lines(): string[] {
    return this.stdout.split('\n').slice(0, -1);
  }

  /** JSON log lines (pino) so far. */
  logs(): Array<Record<string, unknown>> {
    return this.lines().flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  /** Resolves with the first truthy `check()`, re-evaluated on every output; fails on exit or deadline. */
  waitFor<T>(check: () => T | undefined | false, description: string, timeoutMs = 15_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const finish = (fn: () => void): void => {
        clearTimeout(timer);
        this.#wakers.delete(evaluate);
        fn();
      };
      const evaluate = (): void => {
        const value = check();
        if (value) return finish(() => resolve(value));
        if (!this.running)
          finish(() =>
            reject(
              new Error(
                `process exited (${this.child.exitCode ?? this.child.signalCode}) before ${description}\nstdout: ${this.stdout.slice(-2000)}\nstderr: ${this.stderr}`,
              ),
            ),
          );
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new Error(
                `timed out after ${timeoutMs} ms waiting for ${description}\nstdout: ${this.stdout.slice(-2000)}\nstderr: ${this.stderr}`,
              ),
            ),
          ),
        timeoutMs,
      );
      this.#wakers.add(evaluate);
      evaluate();
    });
  }

  /** Waits for a log line with this `msg`. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>> {
    return this.waitFor(() => this.logs().find((l) => l.msg === msg), `log "${msg}"`, timeoutMs);
  }

  /** Sends `signal` and resolves with how the process exited (SIGKILL after `timeoutMs`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.running) return this.exited;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }

  /** Cleanup for afterAll/finally: kill hard if still running. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }
}
