import { readFile } from 'node:fs/promises';
import { KubeprismError, type Logger } from '../runtime/index.js';
import { configFileDigest, type PersistedConfig } from './config-store.js';
import type { ApplyResult, MachineConfigSource } from './machine-config-source.js';

/** The agent could not start: no usable config and no last good one. */
export class AgentStartError extends KubeprismError {
  constructor(message: string) {
    super('KP_ERR_AGENT_START', message);
  }
}

/**
 * The config sources and the rule between them, as the operator means it:
 * - the config file is read at start, when it changes (content, not just its time), and on SIGHUP;
 * - a config applied through the API (or by an embedder) is what runs, also after a restart, until the
 *   config file changes: it is saved with the digest of the file content it superseded, and at start an
 *   unchanged file gives way to it, a changed one wins;
 * - SIGHUP always re-reads and applies the file, changed or not: the operator asked for the file;
 * - a missing or invalid file keeps the config in force, or at start the last good one.
 */
export class ConfigFileSource {
  /** The file's content at the last read; undefined when it could not be read (or is not read yet). */
  #lastText: string | undefined;

  constructor(
    private readonly config: MachineConfigSource,
    private readonly logger: Logger,
    private readonly file: string | undefined,
  ) {}

  /** The source string of the file's configs. */
  get source(): string {
    return `file:${this.file ?? ''}`;
  }

  /** What an API config supersedes: the digest of the file as last read (undefined without a file). */
  supersedes(): string | undefined {
    return this.file === undefined ? undefined : configFileDigest(this.#lastText);
  }

  /** Loads the config at start by the rule above. Throws AgentStartError when nothing can be used. */
  async start(): Promise<void> {
    let persisted: PersistedConfig | undefined;
    try {
      persisted = await this.config.readPersisted();
    } catch (err) {
      // A stuck state directory must not keep the agent from starting on its file.
      this.logger.error({ reason: (err as Error).message, file: this.config.lastGoodPath }, 'cannot read the last good machine config');
    }
    const useLastGood = async (why: string): Promise<void> => {
      if (persisted === undefined) throw new AgentStartError(why);
      const result = await this.config.apply(persisted.text, `last-good:${this.config.lastGoodPath ?? ''}`, {
        usingLastGood: true,
        persist: false,
      });
      if (!result.applied) throw new AgentStartError(`${why}; the last good config is unusable too: ${result.message}`);
      this.logger.warn({ reason: why }, 'running on the last good machine config');
    };
    if (this.file === undefined) {
      if (persisted !== undefined) await useLastGood('no config file given');
      return;
    }

    let text: string | undefined;
    let readError: unknown;
    try {
      text = await this.#read();
    } catch (err) {
      readError = err;
    }
    // Applied through the API after the file was last edited, and the file is still as it was: keep it.
    if (persisted !== undefined && !persisted.source.startsWith('file:') && persisted.supersedes === configFileDigest(text)) {
      const result = await this.config.apply(persisted.text, persisted.source, {
        persist: false,
        restoredFrom: this.config.lastGoodPath ?? '',
      });
      if (result.applied) {
        this.logger.info(
          { source: persisted.source, file: this.file },
          'running on the config applied before the restart: the config file has not changed since (SIGHUP applies the file)',
        );
        return;
      }
    }
    if (readError !== undefined) {
      await this.config.reportUnreadable(this.source, readError);
      await useLastGood(`cannot read machine config ${this.file}: ${(readError as Error).message}`);
      return;
    }
    const result = await this.config.apply(text ?? '', this.source);
    // The file's rejection stays in the status next to the fact that the last good config runs.
    if (!result.applied) await useLastGood(`machine config ${this.file} is invalid:\n${result.message}`);
  }

  /**
   * Re-reads the file and applies it: always when `force` (SIGHUP), else only when its content changed
   * since the last read. A missing or bad file keeps the config in force (and says so in the status).
   */
  async reload(force: boolean): Promise<ApplyResult | undefined> {
    if (this.file === undefined) return undefined;
    if (force) this.config.retryPersist();
    const before = this.#lastText;
    let text: string;
    try {
      text = await this.#read();
    } catch (err) {
      await this.config.reportUnreadable(this.source, err);
      return undefined;
    }
    if (!force && text === before) return undefined;
    return this.config.apply(text, this.source);
  }

  /** Reads the file; a failed read forgets the last content, so the next good read counts as a change. */
  async #read(): Promise<string> {
    try {
      this.#lastText = await readFile(this.file ?? '', 'utf8');
      return this.#lastText;
    } catch (err) {
      this.#lastText = undefined;
      throw err;
    }
  }
}
