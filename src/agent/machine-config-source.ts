import path from 'node:path';
import { InvalidConfigError, parseMachineConfig, type MachineConfig } from '../config/index.js';
import type { Draft } from 'immer';
import { MACHINE_CONFIG_ID, MachineConfigStatusType, MachineConfigType, type MachineConfigStatusSpec } from '../resources/index.js';
import { ptr, type FieldIssue, type Logger, type State } from '../runtime/index.js';
import { readIfExists, writeFileAtomic } from '../util/atomic-file.js';

/** Owner of MachineConfig and MachineConfigStatus: the config source is their only writer. */
export const CONFIG_SOURCE_OWNER = 'MachineConfigSource';

/** The file, in the state directory, holding the last config that was accepted. */
export const LAST_GOOD_FILE = 'machine-config.yaml';

const PERSIST_RETRY_MIN_MS = 500;
const PERSIST_RETRY_MAX_MS = 30_000;

/** The outcome of offering a config: applied (maybe unchanged), or rejected with every issue. */
export type ApplyResult =
  | { readonly applied: true; readonly changed: boolean; readonly version: number }
  | { readonly applied: false; readonly message: string; readonly issues: readonly FieldIssue[] };

/**
 * Turns machine-config text into the MachineConfig resource. A rejected config changes nothing but the
 * status; an accepted one is persisted as the last good config. Applies are serialized.
 */
export class MachineConfigSource {
  #queue: Promise<unknown> = Promise.resolve();
  /** Accepted config text not yet saved as the last good copy (the state directory refused it). */
  #unsaved: string | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelayMs = PERSIST_RETRY_MIN_MS;
  #closed = false;

  constructor(
    private readonly state: State,
    private readonly logger: Logger,
    private readonly stateDir: string | undefined,
  ) {}

  /** Path of the persisted last good config, when there is a state directory. */
  get lastGoodPath(): string | undefined {
    return this.stateDir === undefined ? undefined : path.join(this.stateDir, LAST_GOOD_FILE);
  }

  /** Validates and applies `text`; `source` says where it came from (`file:/path`, `api`, `embedded`, …). */
  apply(text: string, source: string, options: { usingLastGood?: boolean; persist?: boolean } = {}): Promise<ApplyResult> {
    return this.#serialized(() => this.#apply(text, source, options));
  }

  /** Records that a source could not even be read (missing file, permissions); nothing else changes. */
  reportUnreadable(source: string, err: unknown): Promise<void> {
    const message = `cannot read ${source}: ${err instanceof Error ? err.message : String(err)}`;
    this.logger.error({ source, err }, 'machine config source unreadable; keeping the config in force');
    // In turn with applies: one finishing after this would otherwise clear the error it reports.
    return this.#serialized(() =>
      this.#writeStatus((status) => {
        status.lastError = { source, message, issues: [{ path: '', message }], at: new Date().toISOString() };
      }),
    );
  }

  /** Runs `step` after every step queued before it; a failed step does not stop the queue. */
  #serialized<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(step);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Reads the persisted last good config, if any. */
  async readLastGood(): Promise<string | undefined> {
    const file = this.lastGoodPath;
    return file === undefined ? undefined : readIfExists(file);
  }

  async #apply(text: string, source: string, options: { usingLastGood?: boolean; persist?: boolean }): Promise<ApplyResult> {
    let config: MachineConfig;
    try {
      // Interpreted here, once: the view travels with the documents, and no controller reads them again.
      config = parseMachineConfig(text);
    } catch (err) {
      const issues = err instanceof InvalidConfigError ? err.issues : [{ path: '', message: String(err) }];
      const message = err instanceof Error ? err.message : String(err);
      this.logger.error({ source, issues }, 'machine config rejected; keeping the config in force');
      await this.#writeStatus((status) => {
        status.lastError = { source, message, issues: issues.map((i) => ({ ...i })), at: new Date().toISOString() };
      });
      return { applied: false, message, issues };
    }
    const before = await this.state.find(ptr(MachineConfigType, MACHINE_CONFIG_ID));
    const stored = await this.state.modify(
      ptr(MachineConfigType, MACHINE_CONFIG_ID),
      (draft) => {
        draft.spec = { documents: config.documents, view: config.view };
      },
      { owner: CONFIG_SOURCE_OWNER, initialSpec: { documents: [], view: config.view } },
    );
    const changed = stored.metadata.version !== before?.metadata.version;
    let persistError: string | undefined;
    if (options.persist !== false && this.lastGoodPath !== undefined) {
      this.#unsaved = text;
      this.#retryDelayMs = PERSIST_RETRY_MIN_MS;
      persistError = await this.#persist();
      if (persistError !== undefined) {
        this.logger.error({ err: persistError, file: this.lastGoodPath }, 'cannot persist the last good machine config; it still applies');
      }
    }
    await this.#writeStatus((status) => {
      status.source = source;
      status.appliedVersion = stored.metadata.version;
      status.appliedAt = changed || !status.appliedAt ? new Date().toISOString() : status.appliedAt;
      status.usingLastGood = options.usingLastGood === true;
      if (persistError === undefined) delete status.persistError;
      else status.persistError = persistError;
      // Running on the last good config means the real source failed: keep its error visible.
      if (!options.usingLastGood) delete status.lastError;
    });
    if (changed) this.logger.info({ source, version: stored.metadata.version }, 'machine config applied');
    return { applied: true, changed, version: stored.metadata.version };
  }

  /** Saves the unsaved last good config; on failure schedules a retry with backoff. Returns the error, if any. */
  async #persist(): Promise<string | undefined> {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const text = this.#unsaved;
    const file = this.lastGoodPath;
    if (text === undefined || file === undefined) return undefined;
    try {
      await writeFileAtomic(file, text);
      this.#unsaved = undefined;
      return undefined;
    } catch (err) {
      if (!this.#closed) {
        // The directory may come back (remounted, permissions fixed): keep trying, never piling up.
        this.#retryTimer = setTimeout(() => void this.retryPersist(), this.#retryDelayMs);
        this.#retryTimer.unref();
        this.#retryDelayMs = Math.min(PERSIST_RETRY_MAX_MS, this.#retryDelayMs * 2);
      }
      return `cannot save last good config to ${file}: ${(err as Error).message}`;
    }
  }

  /** Tries again to save a last good config the state directory refused (on a timer, and on SIGHUP). */
  retryPersist(): Promise<void> {
    return this.#serialized(async () => {
      if (this.#unsaved === undefined || this.#closed) return;
      const error = await this.#persist();
      if (error !== undefined) return;
      this.logger.info({ file: this.lastGoodPath }, 'last good machine config saved');
      await this.#writeStatus((status) => {
        delete status.persistError;
      });
    });
  }

  /** Stops the persist retries. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  async #writeStatus(mutate: (status: Draft<MachineConfigStatusSpec>) => void): Promise<void> {
    await this.state.modify(ptr(MachineConfigStatusType, MACHINE_CONFIG_ID), (draft) => mutate(draft.spec), {
      owner: CONFIG_SOURCE_OWNER,
      initialSpec: { source: 'none', appliedVersion: 0, usingLastGood: false },
    });
  }
}
