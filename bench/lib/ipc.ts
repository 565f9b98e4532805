/**
 * Typed request/response over a forked child's IPC channel: the load generator and the upstream
 * servers run in their own processes so no contender shares an event loop with the load.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { stopProcess, track } from './processes.js';

/** Operations a worker offers: name → argument and result types. */
export type OpMap = Record<string, { args: unknown; result: unknown }>;

interface Request {
  id: number;
  op: string;
  args: unknown;
}

type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/** The parent's handle on a worker process. */
export class WorkerProcess<M extends OpMap> {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.on('message', (message: Reply) => {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new Error(`${name}: ${message.error}`));
    });
    child.once('exit', (code, signal) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`${name} exited (${code ?? signal})`));
      this.pending.clear();
    });
  }

  /** Fork `script` (a compiled bench module that calls {@link serveOps}). */
  static start<M extends OpMap>(name: string, script: string): WorkerProcess<M> {
    const child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
    track(child);
    return new WorkerProcess<M>(name, child);
  }

  /** The worker's pid (for CPU or memory readings). */
  get pid(): number {
    return this.child.pid as number;
  }

  /** Run one operation in the worker. */
  call<K extends keyof M & string>(op: K, args: M[K]['args'], timeoutMs = 120_000): Promise<M[K]['result']> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${op} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      const request: Request = { id, op, args };
      this.child.send(request);
    });
  }

  /** Stop the worker. */
  async stop(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    await stopProcess(this.child, 2_000);
  }
}

/** Handlers of every operation of `M`. */
export type Handlers<M extends OpMap> = { [K in keyof M]: (args: M[K]['args']) => Promise<M[K]['result']> | M[K]['result'] };

/** In a worker: answer the parent's requests; exit when the parent goes away. */
export function serveOps<M extends OpMap>(handlers: Handlers<M>): void {
  if (!process.send) throw new Error('this module runs as a forked benchmark worker');
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: Request) => {
    const handler = handlers[message.op as keyof M];
    const reply = (r: Reply): void => void process.send?.(r);
    if (!handler) return reply({ id: message.id, ok: false, error: `unknown op ${message.op}` });
    Promise.resolve()
      .then(() => handler(message.args as M[keyof M]['args']))
      .then(
        (result) => reply({ id: message.id, ok: true, result }),
        (err: unknown) => reply({ id: message.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
}
