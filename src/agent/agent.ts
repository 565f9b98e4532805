import { readFile } from 'node:fs/promises';
import { Gauge, Registry } from 'prom-client';
import path from 'node:path';
import { buildInfo } from '../build-info.js';
import type { MemberSpec } from '../config/index.js';
import {
  configChainControllers,
  kubePrismController,
  kubernetesMembersController,
  type KubePrismControllerOptions,
  type KubernetesMembersOptions,
} from '../controllers/index.js';
import { LoadBalancerMetrics } from '../loadbalancer/index.js';
import { registerKubeprismTypes } from '../resources/index.js';
import {
  componentLogger,
  createState,
  Engine,
  KubeprismError,
  silentLogger,
  type BackoffOptions,
  type Controller,
  type Logger,
  type Resource,
  type State,
} from '../runtime/index.js';
import { watchPath, type PathWatch } from '../util/file-watcher.js';
import { MachineConfigSource, type ApplyResult } from './machine-config-source.js';
import { MembersSource, type MembersSyncResult } from './members-source.js';
import { registerControllerMetrics } from './runtime-metrics.js';
import { registerSourceMetrics } from './source-metrics.js';

/** Everything the agent needs to run; only `outputDir` is required. */
export interface AgentOptions {
  /** Machine config file, re-read on change and on `reloadConfig()` (SIGHUP). */
  readonly configPath?: string;
  /** Where the last good config is kept; without it, nothing is persisted. */
  readonly stateDir?: string;
  /** Where kubeconfig files are written. */
  readonly outputDir: string;
  /** Members file (`members: [...]`), re-read on change. */
  readonly membersPath?: string;
  readonly logger?: Logger;
  /** Credentials the kubeconfigs refer to (see KubeconfigFilesOptions). */
  readonly pkiDir?: string;
  readonly kubeletClientPem?: string;
  /** Controller restart backoff. */
  readonly backoff?: BackoffOptions;
  /** File-watch debounce and polling, for tests. */
  readonly watchDebounceMs?: number;
  readonly watchPollMs?: number;
  /** Balancer settings beyond the machine config: drain time on stop, bind retry backoff. */
  readonly balancer?: Omit<KubePrismControllerOptions, 'metrics'>;
  /** Timings and bounds of the Kubernetes discovery source (switched on by the machine config). */
  readonly kubernetesDiscovery?: KubernetesMembersOptions;
  /** Controllers added to the built-in ones (an embedder's own). */
  readonly controllers?: readonly Controller[];
}

/** The agent could not start: no usable config and no last good one. */
export class AgentStartError extends KubeprismError {
  constructor(message: string) {
    super('KP_ERR_AGENT_START', message);
  }
}

/** The node agent: state, controllers, and the config and member sources, started and stopped together. */
export class Agent {
  readonly state: State;
  readonly engine: Engine;
  readonly logger: Logger;
  /** Prometheus registry of the agent: controllers, input sources, balancer, process. Served by the debug API. */
  readonly metrics = new Registry();
  readonly #options: AgentOptions;
  readonly #config: MachineConfigSource;
  readonly #members: MembersSource;
  readonly #watches: PathWatch[] = [];
  /** Content last read from the config and members files: a re-read that finds the same is skipped. */
  readonly #lastRead = new Map<'config' | 'members', string>();
  #stopped = false;

  private constructor(state: State, options: AgentOptions) {
    this.state = state;
    this.#options = options;
    this.logger = options.logger ?? silentLogger();
    this.engine = new Engine(state, { logger: this.logger, ...(options.backoff ? { backoff: options.backoff } : {}) });
    this.#config = new MachineConfigSource(state, componentLogger(this.logger, 'config-source'), options.stateDir);
    this.#members = new MembersSource(state, componentLogger(this.logger, 'members-source'));
    registerControllerMetrics(this.metrics, this.engine);
    registerSourceMetrics(this.metrics, state);
    // Constant 1, its labels say which build runs (commit "" when unknown): join it onto other series.
    const build = buildInfo();
    new Gauge({
      name: 'kubeprism_build_info',
      help: 'Which kubeprism build is running: version, git commit, Node.js version, platform (always 1)',
      labelNames: ['version', 'commit', 'node', 'platform'],
      registers: [this.metrics],
    }).set({ version: build.version, commit: build.commit ?? '', node: build.node, platform: build.platform }, 1);
  }

  /** Builds the state with every kubeprism type and registers the controllers (not started yet). */
  static async create(options: AgentOptions): Promise<Agent> {
    const state = await createState();
    await registerKubeprismTypes(state);
    const agent = new Agent(state, options);
    const chain = configChainControllers({
      outputDir: options.outputDir,
      ...(options.pkiDir !== undefined ? { pkiDir: options.pkiDir } : {}),
      ...(options.kubeletClientPem !== undefined ? { kubeletClientPem: options.kubeletClientPem } : {}),
    });
    const balancer = kubePrismController({ ...options.balancer, metrics: new LoadBalancerMetrics(agent.metrics) });
    const discovery = kubernetesMembersController(options.kubernetesDiscovery);
    for (const controller of [...chain, balancer, discovery, ...(options.controllers ?? [])]) agent.engine.register(controller);
    return agent;
  }

  /**
   * Starts controllers, loads the config (file, else the last good one) and members, and begins watching
   * the files. Throws AgentStartError when a config file was given but neither it nor a last good config
   * can be used.
   */
  async start(): Promise<void> {
    this.engine.start();
    await this.#loadInitialConfig();
    const { membersPath } = this.#options;
    if (membersPath !== undefined) {
      await this.reloadMembers();
      this.#watch(membersPath, () => this.reloadMembers());
    }
  }

  async #loadInitialConfig(): Promise<void> {
    const { configPath } = this.#options;
    const lastGood = await this.#config.readLastGood().catch(() => undefined);
    const useLastGood = async (why: string): Promise<void> => {
      if (lastGood === undefined) throw new AgentStartError(why);
      const result = await this.#config.apply(lastGood, `last-good:${this.#config.lastGoodPath}`, { usingLastGood: true, persist: false });
      if (!result.applied) throw new AgentStartError(`${why}; the last good config is unusable too: ${result.message}`);
      this.logger.warn({ reason: why }, 'running on the last good machine config');
    };
    if (configPath === undefined) {
      if (lastGood !== undefined) await useLastGood('no config file given');
      return;
    }
    let text: string;
    try {
      text = (await this.#readChanged('config', configPath)) as string; // the first read is always a change
    } catch (err) {
      await this.#config.reportUnreadable(`file:${configPath}`, err);
      await useLastGood(`cannot read machine config ${configPath}: ${(err as Error).message}`);
      this.#watch(configPath, () => this.reloadConfig());
      return;
    }
    const result = await this.#config.apply(text, `file:${configPath}`);
    // The file's rejection stays in the status next to the fact that the last good config runs.
    if (!result.applied) await useLastGood(`machine config ${configPath} is invalid:\n${result.message}`);
    this.#watch(configPath, () => this.reloadConfig());
  }

  #watch(file: string, reload: () => Promise<unknown>): void {
    const watcher = watchPath(
      file,
      () => {
        reload().catch((err: unknown) => this.logger.error({ err, file }, 'reload failed'));
      },
      {
        ...(this.#options.watchDebounceMs !== undefined ? { debounceMs: this.#options.watchDebounceMs } : {}),
        ...(this.#options.watchPollMs !== undefined ? { pollMs: this.#options.watchPollMs } : {}),
        onWatchError: (err) => this.logger.warn({ err, file }, 'file watch failed; falling back to polling'),
      },
    );
    this.#watches.push(watcher);
  }

  /** Re-reads the config file (on change and on SIGHUP); a missing or bad file keeps the config in force. */
  async reloadConfig(): Promise<ApplyResult | undefined> {
    const { configPath } = this.#options;
    if (configPath === undefined || this.#stopped) return undefined;
    await this.#config.retryPersist();
    let text: string | undefined;
    try {
      text = await this.#readChanged('config', configPath);
    } catch (err) {
      await this.#config.reportUnreadable(`file:${configPath}`, err);
      return undefined;
    }
    return text === undefined ? undefined : this.#config.apply(text, `file:${configPath}`);
  }

  /** Applies config text from the API or an embedder; a rejected config changes nothing. */
  applyConfig(text: string, source = 'embedded'): Promise<ApplyResult> {
    return this.#config.apply(text, source);
  }

  /** Re-reads the members file; a bad file keeps the members in force. */
  async reloadMembers(): Promise<MembersSyncResult | undefined> {
    const { membersPath } = this.#options;
    if (membersPath === undefined || this.#stopped) return undefined;
    let text: string | undefined;
    try {
      text = await this.#readChanged('members', membersPath);
    } catch (err) {
      await this.#members.reportUnreadable(path.resolve(membersPath), err);
      return undefined;
    }
    return text === undefined ? undefined : this.#members.syncFile(text, path.resolve(membersPath));
  }

  /**
   * A watched input file's content when it differs from the last read, else undefined. Throws when it
   * cannot be read; the read after that counts as a change whatever it finds.
   */
  async #readChanged(input: 'config' | 'members', file: string): Promise<string | undefined> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      this.#lastRead.delete(input);
      throw err;
    }
    if (this.#lastRead.get(input) === text) return undefined;
    this.#lastRead.set(input, text);
    return text;
  }

  /** Creates or replaces a member (embedding API and debug API). */
  putMember(id: string, spec: MemberSpec, source = 'embedded'): Promise<Resource<MemberSpec>> {
    return this.#members.put(id, spec, source);
  }

  /** Removes a member; false when it did not exist. */
  removeMember(id: string): Promise<boolean> {
    return this.#members.remove(id);
  }

  /** Stops watching files and stops every controller (the balancer drains its connections). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const watcher of this.#watches) watcher.close();
    this.#config.close();
    await this.engine.stop();
  }
}
