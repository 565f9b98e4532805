import { readFile } from 'node:fs/promises';
import { Gauge, Registry } from 'prom-client';
import path from 'node:path';
import { buildInfo } from '../build-info.js';
import type { Adoption, MemberSpec } from '../config/index.js';
import {
  configChainControllers,
  kubePrismController,
  kubernetesMembersController,
  type KubePrismControllerOptions,
  type KubernetesMembersOptions,
  type ResolvedCredentials,
} from '../controllers/index.js';
import { LoadBalancerMetrics } from '../loadbalancer/index.js';
import { registerKubeprismTypes } from '../resources/index.js';
import {
  componentLogger,
  createState,
  Engine,
  silentLogger,
  type BackoffOptions,
  type Controller,
  type Logger,
  type Resource,
  type State,
} from '../runtime/index.js';
import { watchPath, type PathWatch } from '../util/file-watcher.js';
import { AgentStartError, ConfigFileSource } from './config-file.js';
import type { StateFs } from './config-store.js';
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
  /** Credentials the kubeconfigs refer to (see KubeconfigFilesOptions), when `credentials` is not given. */
  readonly pkiDir?: string;
  readonly kubeletClientPem?: string;
  /** The credential files of the generated kubeconfigs (`--profile` and its overrides; see credential-profiles.ts). */
  readonly credentials?: ResolvedCredentials;
  /** Kubeconfigs the node already has, adopted on the command line (`--adopt-kubeconfig NAME=PATH`). */
  readonly adoptKubeconfigs?: readonly Adoption[];
  /** Bound on one read or write of the state directory (default 5 s): a stuck one is reported, never waited for. */
  readonly stateTimeoutMs?: number;
  /** How long `stop()` waits for the last config to be saved (default 5 s). */
  readonly stopPersistTimeoutMs?: number;
  /** The state directory's filesystem (tests inject a stuck one). */
  readonly stateFs?: StateFs;
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

export { AgentStartError };

/** How long stop() waits for the last config save by default. */
const STOP_PERSIST_TIMEOUT_MS = 5_000;

/** The node agent: state, controllers, and the config and member sources, started and stopped together. */
export class Agent {
  readonly state: State;
  readonly engine: Engine;
  readonly logger: Logger;
  /** Prometheus registry of the agent: controllers, input sources, balancer, process. Served by the debug API. */
  readonly metrics = new Registry();
  readonly #options: AgentOptions;
  readonly #config: MachineConfigSource;
  readonly #configFile: ConfigFileSource;
  readonly #members: MembersSource;
  readonly #watches: PathWatch[] = [];
  /** Content last read from the members file: a re-read that finds the same is skipped. */
  #membersText: string | undefined;
  #stopped = false;

  private constructor(state: State, options: AgentOptions) {
    this.state = state;
    this.#options = options;
    this.logger = options.logger ?? silentLogger();
    this.engine = new Engine(state, { logger: this.logger, ...(options.backoff ? { backoff: options.backoff } : {}) });
    const configLogger = componentLogger(this.logger, 'config-source');
    const adoptedByFlag = new Map((options.adoptKubeconfigs ?? []).map((a) => [a.name, a.path]));
    this.#config = new MachineConfigSource(state, configLogger, options.stateDir, {
      parseContext: { adoptedByFlag },
      ...(options.stateTimeoutMs !== undefined ? { stateTimeoutMs: options.stateTimeoutMs } : {}),
      ...(options.stateFs ? { stateFs: options.stateFs } : {}),
    });
    this.#configFile = new ConfigFileSource(this.#config, configLogger, options.configPath);
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
    const watch = {
      ...(options.watchDebounceMs !== undefined ? { debounceMs: options.watchDebounceMs } : {}),
      ...(options.watchPollMs !== undefined ? { pollMs: options.watchPollMs } : {}),
    };
    const chain = configChainControllers({
      outputDir: options.outputDir,
      ...(options.pkiDir !== undefined ? { pkiDir: options.pkiDir } : {}),
      ...(options.kubeletClientPem !== undefined ? { kubeletClientPem: options.kubeletClientPem } : {}),
      ...(options.credentials ? { credentials: options.credentials.credentials, missingCredentials: options.credentials.missing } : {}),
      ...(options.adoptKubeconfigs ? { adoptions: options.adoptKubeconfigs } : {}),
      watch,
    });
    const balancer = kubePrismController({ ...options.balancer, metrics: new LoadBalancerMetrics(agent.metrics) });
    const discovery = kubernetesMembersController(options.kubernetesDiscovery);
    for (const controller of [...chain, balancer, discovery, ...(options.controllers ?? [])]) agent.engine.register(controller);
    return agent;
  }

  /**
   * Starts controllers, loads the config (see ConfigFileSource for the rule between the file, a config
   * applied through the API and the last good one) and members, and begins watching the files. Throws
   * AgentStartError when a config file was given but neither it nor a last good config can be used.
   */
  async start(): Promise<void> {
    this.engine.start();
    await this.#configFile.start();
    const { configPath, membersPath } = this.#options;
    if (configPath !== undefined) this.#watch(configPath, () => this.#configFile.reload(false));
    if (membersPath !== undefined) {
      await this.reloadMembers();
      this.#watch(membersPath, () => this.reloadMembers());
    }
  }

  #watch(file: string, reload: () => Promise<unknown>): void {
    const watcher = watchPath(
      file,
      () => {
        if (this.#stopped) return;
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

  /**
   * Re-reads the config file and applies it, changed or not (SIGHUP: the operator asked for the file,
   * over a config applied through the API). A missing or bad file keeps the config in force.
   */
  async reloadConfig(): Promise<ApplyResult | undefined> {
    if (this.#stopped) return undefined;
    return this.#configFile.reload(true);
  }

  /**
   * Applies config text from the API or an embedder; a rejected config changes nothing. An applied one
   * is saved and outlives restarts until the config file changes.
   */
  applyConfig(text: string, source = 'embedded'): Promise<ApplyResult> {
    const supersedes = this.#configFile.supersedes();
    return this.#config.apply(text, source, supersedes !== undefined ? { supersedes } : {});
  }

  /** Re-reads the members file; a bad file keeps the members in force. */
  async reloadMembers(): Promise<MembersSyncResult | undefined> {
    const { membersPath } = this.#options;
    if (membersPath === undefined || this.#stopped) return undefined;
    let text: string;
    try {
      text = await readFile(membersPath, 'utf8');
    } catch (err) {
      // The read after a failed one counts as a change whatever it finds.
      this.#membersText = undefined;
      await this.#members.reportUnreadable(path.resolve(membersPath), err);
      return undefined;
    }
    if (text === this.#membersText) return undefined;
    this.#membersText = text;
    return this.#members.syncFile(text, path.resolve(membersPath));
  }

  /** Creates or replaces a member (embedding API and debug API). */
  putMember(id: string, spec: MemberSpec, source = 'embedded'): Promise<Resource<MemberSpec>> {
    return this.#members.put(id, spec, source);
  }

  /** Removes a member; false when it did not exist. */
  removeMember(id: string): Promise<boolean> {
    return this.#members.remove(id);
  }

  /**
   * Stops watching files and stops every controller (the balancer drains its connections), and waits a
   * bounded time (`stopPersistTimeoutMs`) for the last config to reach the state directory.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const watcher of this.#watches) watcher.close();
    const timeoutMs = this.#options.stopPersistTimeoutMs ?? STOP_PERSIST_TIMEOUT_MS;
    const [saved] = await Promise.all([this.#config.close(timeoutMs), this.engine.stop()]);
    if (!saved)
      this.logger.error({ timeoutMs }, 'stopping without the last machine config saved: the state directory did not answer in time');
  }
}
