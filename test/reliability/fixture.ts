import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Agent } from '../../src/agent/agent.js';
import type { MemberSpec } from '../../src/config/index.js';
import type { BackoffOptions, Controller, Logger, ResourcePointer, State, WatchEvent } from '../../src/runtime/index.js';
import { v1alpha1Config } from '../harness/configs.js';
import { waitFor } from '../harness/wait.js';

// Shared pieces of the reliability suite: an in-process agent on the real balancer whose log lines can be
// awaited, config builders that keep every address on loopback, and before/after resource snapshots.

/** One pino log entry as the agent wrote it. */
export interface LogEntry {
  readonly level: number;
  readonly msg: string;
  readonly component?: string;
  readonly [field: string]: unknown;
}

/** Fields a log entry must have: equal values, or strings matching a RegExp. */
export type LogMatch = Readonly<Record<string, string | number | boolean | RegExp>>;

/** Whether `entry` has every field of `match`. */
export function logMatches(entry: Readonly<Record<string, unknown>>, match: LogMatch): boolean {
  return Object.entries(match).every(([key, want]) => {
    const got = entry[key];
    return want instanceof RegExp ? typeof got === 'string' && want.test(got) : got === want;
  });
}

/** Keeps the JSON log lines of a pino logger in memory (a pino destination), so tests can wait for them. */
export class LogCapture {
  readonly entries: LogEntry[] = [];
  readonly logger: Logger;
  readonly #wakers = new Set<() => void>();

  constructor(level = 'debug') {
    this.logger = pino({ level, base: undefined }, { write: (line: string) => this.#add(line) });
  }

  #add(line: string): void {
    this.entries.push(JSON.parse(line) as LogEntry);
    for (const wake of [...this.#wakers]) wake();
  }

  /** Entries matching `match`, from index `from` on. */
  matching(match: LogMatch, from = 0): LogEntry[] {
    return this.entries.slice(from).filter((e) => logMatches(e, match));
  }

  /** Waits for an entry matching `match` (from index `from` on), re-checked on every new line. */
  async waitFor(match: LogMatch, from = 0, timeoutMs = 10_000): Promise<LogEntry> {
    return (await this.waitForCount(match, 1, from, timeoutMs))[0] as LogEntry;
  }

  /** Waits until `count` entries match `match` (from index `from` on); resolves with all matching so far. */
  waitForCount(match: LogMatch, count: number, from = 0, timeoutMs = 10_000): Promise<LogEntry[]> {
    return waitFor(
      () => {
        const found = this.matching(match, from);
        return found.length >= count ? found : undefined;
      },
      {
        description: `${count} log line(s) ${JSON.stringify(match, (_k, v: unknown) => (v instanceof RegExp ? String(v) : v))}`,
        timeoutMs,
        subscribe: (wake) => {
          this.#wakers.add(wake);
          return () => this.#wakers.delete(wake);
        },
        detail: () => this.entries.slice(-15).map((e) => `${e.component ?? ''}: ${e.msg}`),
      },
    );
  }
}

/** Options of {@link startAgent}. */
export interface AgentFixtureOptions {
  /** Machine config text written to the config file before start. */
  readonly config: string;
  /** Members file text (a members file is watched only when given). */
  readonly members?: string;
  readonly controllers?: readonly Controller[];
  readonly backoff?: BackoffOptions;
  /** File-watch timing; the default (20 ms debounce, 100 ms polling) reacts fast. */
  readonly watchDebounceMs?: number;
  readonly watchPollMs?: number;
  /** Called once the agent exists, before it starts (to watch resources from their very first version). */
  readonly beforeStart?: (agent: Agent) => void;
}

/** A running in-process agent, its files and its captured logs. */
export interface AgentFixture {
  readonly agent: Agent;
  readonly state: State;
  readonly logs: LogCapture;
  readonly dir: string;
  readonly configPath: string;
  readonly membersPath: string;
  readonly stateDir: string;
  readonly outputDir: string;
  /** Stops the agent and removes its directory; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts an agent with the real balancer in a fresh temporary directory, logging into a {@link LogCapture}.
 * Balancer timings are shortened (bind retries 50 → 400 ms, connection counts refreshed every 100 ms,
 * 100 ms drain) so faults and recoveries show within a fraction of a second.
 */
export async function startAgent(options: AgentFixtureOptions): Promise<AgentFixture> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-reliability-'));
  const configPath = path.join(dir, 'config.yaml');
  const membersPath = path.join(dir, 'members.yaml');
  const stateDir = path.join(dir, 'state');
  const outputDir = path.join(dir, 'out');
  await writeFile(configPath, options.config);
  if (options.members !== undefined) await writeFile(membersPath, options.members);
  const logs = new LogCapture();
  const agent = await Agent.create({
    configPath,
    stateDir,
    outputDir,
    ...(options.members !== undefined ? { membersPath } : {}),
    logger: logs.logger,
    watchDebounceMs: options.watchDebounceMs ?? 20,
    watchPollMs: options.watchPollMs ?? 100,
    balancer: { drainTimeoutMs: 100, connectionRefreshMs: 100, balancer: { listenBackoff: { initialMs: 50, maxMs: 400 } } },
    ...(options.backoff ? { backoff: options.backoff } : {}),
    ...(options.controllers ? { controllers: options.controllers } : {}),
  }).catch(async (err: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw err;
  });
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await agent.stop();
      await rm(dir, { recursive: true, force: true });
    })());
  try {
    options.beforeStart?.(agent);
    await agent.start();
  } catch (err) {
    await stop();
    throw err;
  }
  return { agent, state: agent.state, logs, dir, configPath, membersPath, stateDir, outputDir, stop };
}

/** Where an upstream listens. */
export interface Address {
  readonly host: string;
  readonly port: number;
}

/** Options of {@link balancedConfig}. */
export interface BalancedConfigOptions {
  /** The KubePrism port (always a free ephemeral one in tests). */
  readonly port: number;
  /** The cluster endpoint: a test server on loopback. */
  readonly endpoint: Address;
  readonly mode?: 'tcp' | 'tls' | 'readyz';
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  readonly clusterName?: string;
}

/**
 * A worker's machine config with KubePrism on `port` in front of `endpoint`. A worker has no local API
 * server endpoint (`localhost`), so every upstream is a loopback IP the test chose: nothing is resolved.
 * Checks default to readyz every 150 ms with a 120 ms timeout.
 */
export function balancedConfig(options: BalancedConfigOptions): string {
  return v1alpha1Config({
    machineType: 'worker',
    endpoint: `https://${options.endpoint.host}:${options.endpoint.port}`,
    ...(options.clusterName !== undefined ? { clusterName: options.clusterName } : {}),
    kubePrism: {
      enabled: true,
      port: options.port,
      healthCheck: {
        mode: options.mode ?? 'readyz',
        interval: `${options.intervalMs ?? 150}ms`,
        timeout: `${options.timeoutMs ?? 120}ms`,
        jitter: 0.1,
      },
    },
  });
}

/** A control-plane member whose API server is `server` (one loopback address). */
export function controlPlaneMember(id: string, server: Address): MemberSpec {
  return { nodeId: id, hostname: id, machineType: 'controlplane', addresses: [server.host], controlPlane: { apiServerPort: server.port } };
}

/** Version and spec of one resource, keyed by `namespace/type/id` in a {@link ResourceSnapshot}. */
export interface ResourceRecord {
  readonly version: number;
  readonly spec: unknown;
}

/** Every resource of a state at one moment. */
export type ResourceSnapshot = Record<string, ResourceRecord>;

/**
 * Types whose specs follow live health, traffic or a source's own cycle rather than the config and members:
 * left out of "nothing changed" comparisons.
 */
export const LIVE_TYPES: readonly string[] = [
  'KubePrismStatuses.kubernetes.talos.dev',
  'KubePrismUpstreams.kubernetes.talos.dev',
  'ControllerStatuses.runtime.kubeprism.dev',
  'DiscoveryStatuses.cluster.talos.dev',
];

/** Version and spec of every resource of every type, except the `skip` types. */
export async function resourceSnapshot(state: State, skip: readonly string[] = LIVE_TYPES): Promise<ResourceSnapshot> {
  const out: Record<string, ResourceRecord> = {};
  for (const def of state.registry.definitions()) {
    if (skip.includes(def.type)) continue;
    for (const namespace of state.registry.namespaces()) {
      for (const res of await state.list({ namespace, type: def.type })) {
        out[`${namespace}/${def.type}/${res.metadata.id}`] = { version: res.metadata.version, spec: res.spec };
      }
    }
  }
  return out;
}

/** Sum of the samples of `name` in Prometheus text whose labels include `labels`. */
export function metricValue(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) sum += Number(match[3]);
  }
  return sum;
}

/** Reads one metric of the agent's registry (see {@link metricValue}). */
export async function agentMetric(agent: Agent, name: string, labels: Readonly<Record<string, string>> = {}): Promise<number> {
  return metricValue(await agent.metrics.metrics(), name, labels);
}

/** A value a resource took, and when it was seen (performance.now()). */
export interface Seen<T> {
  readonly at: number;
  readonly value: T;
}

/**
 * Records the successive values `pick` takes from one resource's watch events (repeats dropped), with
 * the time each was seen, until `stop`. Events carry the resource as written, so no state is missed.
 */
export function recordResource<S, T>(
  state: State,
  ptr: ResourcePointer<S>,
  pick: (spec: S) => T,
): { readonly seen: Array<Seen<T>>; stop(): void } {
  const seen: Array<Seen<T>> = [];
  const subscription = state.watch(ptr).subscribe((event: WatchEvent) => {
    if (event.type !== 'created' && event.type !== 'updated') return;
    const value = pick(event.resource.spec as S);
    const last = seen.at(-1);
    if (last === undefined || JSON.stringify(last.value) !== JSON.stringify(value)) seen.push({ at: performance.now(), value });
  });
  return { seen, stop: () => subscription.unsubscribe() };
}

/**
 * `promise`, or a failure after `timeoutMs` that says what was awaited and how things stood (`detail`):
 * for steps whose hang would otherwise surface only as the test's own timeout, with no clue.
 */
export function within<T>(promise: Promise<T>, timeoutMs: number, what: string, detail: () => unknown = () => ''): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${JSON.stringify(detail())}`)),
      timeoutMs,
    );
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
