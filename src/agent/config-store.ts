import { createHash } from 'node:crypto';
import { KubeprismError, type Logger } from '../runtime/index.js';
import { readIfExists, writeFileAtomic } from '../util/atomic-file.js';

// The machine config in force, kept in the state directory so a restart starts where the agent was: the
// config text and where it came from; for a config that did not come from the config file (the API, an
// embedder), the digest of the config file it superseded, so that at start "the file has not changed
// since" can be told apart from "the operator edited the file".
//
// A stuck or slow state directory (a hung NFS mount, a full disk in trouble) must never hold up the
// agent: a read or a write that takes longer than its bound is reported and left behind, and only one
// write is ever in flight (a hung write holds one of libuv's few threads; piling more on would starve
// every other file operation of the process). Newer configs wait in one slot; the latest wins.

/** The first line of the state file: a comment, so the file stays a valid config (`kubeprism validate` reads it). */
const HEADER = '# kubeprism-state: ';

/** Digest recorded for a config file that could not be read when it was superseded. */
export const NO_FILE_DIGEST = 'none';

/** A config as persisted: its text, its source (`file:/path`, `api`, `embedded`), what it superseded. */
export interface PersistedConfig {
  readonly text: string;
  readonly source: string;
  /** For a config that did not come from the config file: the digest of that file's content back then. */
  readonly supersedes?: string;
}

/** The digest of a config file's content as recorded in the state (`none` when it could not be read). */
export function configFileDigest(text: string | undefined): string {
  return text === undefined ? NO_FILE_DIGEST : `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/** The state file's content for a persisted config. */
export function renderPersisted(config: PersistedConfig): string {
  const meta = { source: config.source, ...(config.supersedes !== undefined ? { supersedes: config.supersedes } : {}) };
  return `${HEADER}${JSON.stringify(meta)}\n${config.text}`;
}

/** Reads a state file back; one without the header (an older kubeprism's) is a config of unknown source. */
export function parsePersisted(content: string): PersistedConfig {
  if (content.startsWith(HEADER)) {
    const newline = content.indexOf('\n');
    try {
      const meta = JSON.parse(content.slice(HEADER.length, newline === -1 ? undefined : newline)) as Record<string, unknown>;
      if (typeof meta.source === 'string') {
        return {
          text: newline === -1 ? '' : content.slice(newline + 1),
          source: meta.source,
          ...(typeof meta.supersedes === 'string' ? { supersedes: meta.supersedes } : {}),
        };
      }
    } catch {
      // Not ours after all: read the whole file as the config.
    }
  }
  return { text: content, source: 'unknown' };
}

/** The state directory did not answer within its bound; what was asked of it may still complete later. */
export class StateTimeoutError extends KubeprismError {
  constructor(message: string) {
    super('KP_ERR_TIMEOUT', message);
  }
}

/** What the store reads and writes through (tests inject a slow or stuck one). */
export interface StateFs {
  /** The file's content; undefined when it does not exist. */
  readonly readFile: (file: string) => Promise<string | undefined>;
  /** Writes atomically (temporary file, fsync, rename, directory fsync). */
  readonly writeFile: (file: string, content: string) => Promise<unknown>;
}

/** The real filesystem. */
export const NODE_STATE_FS: StateFs = {
  readFile: readIfExists,
  writeFile: (file, content) => writeFileAtomic(file, content, 0o600),
};

/** Options of a {@link ConfigStore}. */
export interface ConfigStoreOptions {
  readonly fs?: StateFs;
  /** A read or write taking longer than this is reported (default 5 s); a write goes on in the background. */
  readonly timeoutMs?: number;
  /** Between failed writes (default 0.5 s doubling to 30 s). */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  /** Called when the store's error changes: a message while saving fails or hangs, undefined once saved. */
  readonly onError?: (error: string | undefined) => void;
  readonly logger: Logger;
}

interface Waiter {
  readonly config: PersistedConfig;
  readonly resolve: () => void;
}

/** The persisted machine config: bounded reads, one write at a time, the latest config wins, retries. */
export class ConfigStore {
  readonly file: string;
  readonly #fs: StateFs;
  readonly #timeoutMs: number;
  readonly #retryMinMs: number;
  readonly #retryMaxMs: number;
  readonly #logger: Logger;
  readonly #onError: (error: string | undefined) => void;
  /** The config to write next (the latest asked for, not yet written). */
  #wanted: PersistedConfig | undefined;
  #inFlight: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelayMs: number;
  #error: string | undefined;
  #closed = false;
  #waiters: Waiter[] = [];
  #idle: Array<() => void> = [];

  constructor(file: string, options: ConfigStoreOptions) {
    this.file = file;
    this.#fs = options.fs ?? NODE_STATE_FS;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#retryMinMs = options.retryMinMs ?? 500;
    this.#retryMaxMs = options.retryMaxMs ?? 30_000;
    this.#retryDelayMs = this.#retryMinMs;
    this.#logger = options.logger;
    this.#onError = options.onError ?? (() => undefined);
  }

  /** Why the latest config is not saved yet (failing or hanging); undefined when it is. */
  get error(): string | undefined {
    return this.#error;
  }

  /** The persisted config, if any. Throws StateTimeoutError when the directory does not answer in time. */
  async read(): Promise<PersistedConfig | undefined> {
    const content = await bounded(this.#fs.readFile(this.file), this.#timeoutMs, `reading ${this.file}`);
    return content === undefined ? undefined : parsePersisted(content);
  }

  /**
   * Saves `config` (replacing any config still waiting to be written). Resolves once it is written, has
   * failed (retried with backoff; `error` says why), or was replaced by a newer one: never later than
   * the bound, even while the directory hangs.
   */
  save(config: PersistedConfig): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#wanted = config;
    // A new config is worth an attempt now, whatever the backoff of the old one said.
    this.#retryDelayMs = this.#retryMinMs;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const done = new Promise<void>((resolve) => this.#waiters.push({ config, resolve }));
    this.#next();
    return Promise.race([done, delay(this.#timeoutMs)]);
  }

  /** Tries a failed write again now (SIGHUP) instead of at the end of its backoff. */
  retryNow(): void {
    if (this.#retryTimer === undefined) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#next();
  }

  /**
   * Stops retrying and waits at most `timeoutMs` for the write in flight and the config waiting (one
   * last attempt each); true when everything asked for is on disk or failed for good, false on timeout.
   */
  async close(timeoutMs: number): Promise<boolean> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#next();
    if (this.#inFlight === undefined && this.#wanted === undefined) return true;
    const idle = new Promise<boolean>((resolve) => this.#idle.push(() => resolve(true)));
    return Promise.race([idle, delay(timeoutMs).then(() => false)]);
  }

  /** Starts the next write when none is in flight. */
  #next(): void {
    if (this.#inFlight !== undefined || this.#retryTimer !== undefined) return;
    const config = this.#wanted;
    if (config === undefined) {
      for (const resolve of this.#idle.splice(0)) resolve();
      return;
    }
    this.#wanted = undefined;
    const hung = setTimeout(() => {
      this.#setError(`the state directory has not finished writing ${this.file} after ${this.#timeoutMs / 1000}s; still waiting for it`);
    }, this.#timeoutMs);
    hung.unref();
    this.#inFlight = this.#fs
      .writeFile(this.file, renderPersisted(config))
      .then(
        () => {
          this.#retryDelayMs = this.#retryMinMs;
          if (this.#wanted === undefined) this.#setError(undefined);
        },
        (err: unknown) => {
          // Keep trying this one, unless a newer config came meanwhile (that one is written next instead).
          this.#wanted ??= config;
          this.#setError(`cannot save last good config to ${this.file}: ${err instanceof Error ? err.message : String(err)}`);
          if (this.#wanted !== config) return;
          if (this.#closed) {
            this.#wanted = undefined; // stopping: one last attempt only
            return;
          }
          this.#retryTimer = setTimeout(() => {
            this.#retryTimer = undefined;
            this.#next();
          }, this.#retryDelayMs);
          this.#retryTimer.unref();
          this.#retryDelayMs = Math.min(this.#retryMaxMs, this.#retryDelayMs * 2);
        },
      )
      .finally(() => {
        clearTimeout(hung);
        this.#inFlight = undefined;
        // Everyone waiting for this config or an older one is answered (written, failed, or replaced).
        const index = this.#waiters.findIndex((w) => w.config === config);
        for (const waiter of this.#waiters.splice(0, index + 1)) waiter.resolve();
        this.#next();
      });
  }

  #setError(error: string | undefined): void {
    if (error === this.#error) return;
    this.#error = error;
    // The same words as before the store existed: log queries keep matching.
    if (error === undefined) this.#logger.info({ file: this.file }, 'last good machine config saved');
    else this.#logger.error({ file: this.file, reason: error }, 'cannot persist the last good machine config; it still applies');
    this.#onError(error);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** `promise`, or a StateTimeoutError after `ms` (the operation itself goes on; its result is dropped). */
async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new StateTimeoutError(`the state directory did not answer ${what} within ${ms / 1000}s`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
