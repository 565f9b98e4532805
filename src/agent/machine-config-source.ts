import path from 'node:path';
import { InvalidConfigError, parseMachineConfig, type MachineConfig, type ParseContext } from '../config/index.js';
import type { Draft } from 'immer';
import { MACHINE_CONFIG_ID, MachineConfigStatusType, MachineConfigType, type MachineConfigStatusSpec } from '../resources/index.js';
import { ptr, type FieldIssue, type Logger, type State } from '../runtime/index.js';
import { ConfigStore, type PersistedConfig, type StateFs } from './config-store.js';

/** Owner of MachineConfig and MachineConfigStatus: the config source is their only writer. */
export const CONFIG_SOURCE_OWNER = 'MachineConfigSource';

/** The file, in the state directory, holding the last config that was accepted. */
export const LAST_GOOD_FILE = 'machine-config.yaml';

/** How a MachineConfigSource reads configs and keeps the last good one. */
export interface MachineConfigSourceOptions {
  /** What the command line says that a config may not contradict (adopted kubeconfigs). */
  readonly parseContext?: ParseContext;
  /** A state-directory read or write taking longer than this is reported and left behind (default 5 s). */
  readonly stateTimeoutMs?: number;
  /** The state directory's filesystem (tests inject a stuck one). */
  readonly stateFs?: StateFs;
}

/** How a config is offered: where it came from, whether it is saved, what it supersedes. */
export interface ApplyOptions {
  /** Running on the persisted config because the real source failed. */
  readonly usingLastGood?: boolean;
  /** Save it as the last good config (default true). */
  readonly persist?: boolean;
  /** For a config that is not the config file's: the digest of the config file it supersedes (see ConfigStore). */
  readonly supersedes?: string;
  /** The state file it was restored from at start (a persisted API config the file has not replaced). */
  readonly restoredFrom?: string;
}

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
  readonly #store: ConfigStore | undefined;
  readonly #parseContext: ParseContext;

  constructor(
    private readonly state: State,
    private readonly logger: Logger,
    stateDir: string | undefined,
    options: MachineConfigSourceOptions = {},
  ) {
    this.#parseContext = options.parseContext ?? {};
    this.#store =
      stateDir === undefined
        ? undefined
        : new ConfigStore(path.join(stateDir, LAST_GOOD_FILE), {
            logger,
            ...(options.stateFs ? { fs: options.stateFs } : {}),
            ...(options.stateTimeoutMs !== undefined ? { timeoutMs: options.stateTimeoutMs } : {}),
            // Saving goes on after an apply returns (retries, a slow directory): its outcome lands in the status.
            onError: (error) =>
              void this.#serialized(() =>
                this.#writeStatus((status) => {
                  if (error === undefined) delete status.persistError;
                  else status.persistError = error;
                }),
              ).catch((err: unknown) => this.logger.error({ err }, 'cannot record the persist state')),
          });
  }

  /** Path of the persisted last good config, when there is a state directory. */
  get lastGoodPath(): string | undefined {
    return this.#store?.file;
  }

  /** Validates and applies `text`; `source` says where it came from (`file:/path`, `api`, `embedded`, …). */
  async apply(text: string, source: string, options: ApplyOptions = {}): Promise<ApplyResult> {
    const result = await this.#serialized(() => this.#apply(text, source, options));
    // Saving runs off the config path: the config applies at once; the caller waits a bounded time for the
    // save so that, in the common case, the status it reads next already says whether it was saved.
    if (result.applied && options.persist !== false && this.#store !== undefined) {
      await this.#store.save({ text, source, ...(options.supersedes !== undefined ? { supersedes: options.supersedes } : {}) });
      await this.#queue;
    }
    return result;
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

  /** Reads the persisted config, if any (bounded: throws StateTimeoutError when the directory hangs). */
  async readPersisted(): Promise<PersistedConfig | undefined> {
    return this.#store?.read();
  }

  async #apply(text: string, source: string, options: ApplyOptions): Promise<ApplyResult> {
    let config: MachineConfig;
    try {
      // Interpreted here, once: the view travels with the documents, and no controller reads them again.
      config = parseMachineConfig(text, this.#parseContext);
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
    await this.#writeStatus((status) => {
      status.source = source;
      status.appliedVersion = stored.metadata.version;
      status.appliedAt = changed || !status.appliedAt ? new Date().toISOString() : status.appliedAt;
      status.usingLastGood = options.usingLastGood === true;
      if (options.restoredFrom !== undefined) status.restoredFrom = options.restoredFrom;
      else delete status.restoredFrom;
      // Running on the last good config means the real source failed: keep its error visible.
      if (!options.usingLastGood) delete status.lastError;
    });
    if (changed) this.logger.info({ source, version: stored.metadata.version }, 'machine config applied');
    return { applied: true, changed, version: stored.metadata.version };
  }

  /** Tries again now to save a config the state directory refused (SIGHUP), instead of after its backoff. */
  retryPersist(): void {
    this.#store?.retryNow();
  }

  /** Stops the persist retries and waits at most `timeoutMs` for the save in flight; false when it gave up. */
  async close(timeoutMs = 0): Promise<boolean> {
    return (await this.#store?.close(timeoutMs)) ?? true;
  }

  async #writeStatus(mutate: (status: Draft<MachineConfigStatusSpec>) => void): Promise<void> {
    await this.state.modify(ptr(MachineConfigStatusType, MACHINE_CONFIG_ID), (draft) => mutate(draft.spec), {
      owner: CONFIG_SOURCE_OWNER,
      initialSpec: { source: 'none', appliedVersion: 0, usingLastGood: false },
    });
  }
}
