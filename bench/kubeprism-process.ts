/**
 * kubeprism as a contender: `node bin/kubeprism.js run` in its own process (like HAProxy), fed a Talos
 * machine config and a members file written into a temp dir, watched through its debug API.
 */
import type { ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ApiClient } from '../src/api/client.js';
import type { Target } from './load-generator.js';
import type { CheckPolicy } from './haproxy.js';
import { spawnTracked, stopProcess } from './lib/processes.js';
import { nowMs, sleep } from './lib/stats.js';
import { freePort } from '../test/harness/ports.js';

/** The repository root (this file runs from dist/bench/). */
export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');

/** The KubePrismUpstreams spec fields the benchmark reads. */
export interface UpstreamSpec {
  host: string;
  port: number;
  healthy: boolean;
  activeConnections: number;
}

/** What the agent is started with. */
export interface KubeprismSettings {
  port: number;
  /** The cluster endpoint (first upstream). */
  endpoint: Target;
  /** Further upstreams, as control-plane members. */
  members: readonly Target[];
  check: CheckPolicy;
  /** Write a V8 CPU profile here when the process exits (`--cpu-prof`). */
  profileDir?: string;
  /** Another checkout's `bin/kubeprism.js` (A/B runs against an older build). */
  bin?: string;
}

function durationOf(ms: number): string {
  return `${ms}ms`;
}

/** A worker node's machine config: the endpoint, KubePrism on `port` with the given checks. */
export function machineConfigYaml(s: Pick<KubeprismSettings, 'port' | 'endpoint' | 'check'>): string {
  return `version: v1alpha1
machine:
  type: worker
  token: bench.0123456789abcdef
  features:
    kubePrism:
      enabled: true
      port: ${s.port}
      healthCheck: {mode: ${s.check.mode}, interval: ${durationOf(s.check.intervalMs)}, timeout: ${durationOf(s.check.timeoutMs)}, jitter: 0.1}
cluster:
  clusterName: bench
  controlPlane:
    endpoint: https://${s.endpoint.host}:${s.endpoint.port}
`;
}

/** A members file with one control-plane member per target. */
export function membersYaml(members: readonly Target[]): string {
  if (members.length === 0) return 'members: []\n';
  const lines = members.map(
    (m, i) =>
      `  - {id: cp-${i + 1}, hostname: cp-${i + 1}, machineType: controlplane, addresses: [${m.host}], controlPlane: {apiServerPort: ${m.port}}}`,
  );
  return `members:\n${lines.join('\n')}\n`;
}

/** Write a file the way config-management tools do: a temp file renamed over the old one. */
export function writeAtomically(file: string, text: string): void {
  const temp = `${file}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, file);
}

/** A running `kubeprism run` process. */
export class KubeprismProcess {
  readonly configPath: string;
  readonly membersPath: string;
  private readonly logPath: string;

  private constructor(
    readonly child: ChildProcess,
    readonly api: ApiClient,
    dir: string,
  ) {
    this.configPath = path.join(dir, 'config.yaml');
    this.membersPath = path.join(dir, 'members.yaml');
    this.logPath = path.join(dir, 'kubeprism.log');
  }

  /** Start the agent in `dir` and wait until its listener is up and every upstream is healthy. */
  static async start(dir: string, settings: KubeprismSettings): Promise<KubeprismProcess> {
    // Never the balancer's own port: two free-port picks made before either binds can return the same one.
    let apiPort = await freePort('127.0.0.1');
    while (apiPort === settings.port) apiPort = await freePort('127.0.0.1');
    const apiAddress = `127.0.0.1:${apiPort}`;
    writeFileSync(path.join(dir, 'config.yaml'), machineConfigYaml(settings));
    writeFileSync(path.join(dir, 'members.yaml'), membersYaml(settings.members));
    const log = openSync(path.join(dir, 'kubeprism.log'), 'a');
    const nodeArgs = settings.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${settings.profileDir}`] : [];
    const args = [
      ...nodeArgs,
      settings.bin ?? path.join(REPO_ROOT, 'bin', 'kubeprism.js'),
      'run',
      '--config',
      path.join(dir, 'config.yaml'),
      '--members',
      path.join(dir, 'members.yaml'),
      '--state-dir',
      path.join(dir, 'state'),
      '--api',
      apiAddress,
    ];
    const child = spawnTracked(process.execPath, args, { stdio: ['ignore', log, log], env: { ...process.env, NO_COLOR: '1' } });
    closeSync(log);
    const kp = new KubeprismProcess(child, new ApiClient(apiAddress, { timeoutMs: 5_000 }), dir);
    try {
      await kp.waitHealthy(1 + settings.members.length);
    } catch (err) {
      await kp.stop();
      throw err;
    }
    return kp;
  }

  /** The process id (for memory readings). */
  get pid(): number {
    return this.child.pid as number;
  }

  /** Every upstream as the agent reports it. */
  async upstreams(): Promise<UpstreamSpec[]> {
    return (await this.api.list('kpu')).map((r) => r.spec as UpstreamSpec);
  }

  /** Follow KubePrismUpstreams changes as they happen (debug API watch); returns the stop function. */
  followUpstreams(onChange: (event: 'created' | 'updated' | 'destroyed', spec: UpstreamSpec, atMs: number) => void): () => void {
    const abort = new AbortController();
    void (async () => {
      try {
        for await (const line of this.api.watch('kpu', { signal: abort.signal })) {
          if (line.event !== 'bootstrapped') onChange(line.event, line.resource.spec as UpstreamSpec, nowMs());
        }
      } catch (err) {
        if (!abort.signal.aborted) process.stderr.write(`bench: upstream watch failed: ${(err as Error).message}\n`);
      }
    })();
    return () => abort.abort();
  }

  /** Wait until the listener is up and `count` upstreams are listed, all healthy. */
  async waitHealthy(count: number, timeoutMs = 20_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let last = '';
    while (performance.now() < deadline) {
      if (this.child.exitCode !== null) break;
      try {
        const status = (await this.api.get('kps', 'k8s-loadbalancer')).spec as { listening: boolean; healthy: boolean };
        const ups = await this.upstreams();
        last = JSON.stringify({ status, ups });
        if (status.listening && ups.length === count && ups.every((u) => u.healthy)) return;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(50);
    }
    throw new Error(`kubeprism not ready (${count} healthy upstreams) after ${timeoutMs} ms: ${last}\n--- log tail ---\n${this.logTail()}`);
  }

  /** The last lines of the agent's log (for error messages). */
  logTail(lines = 15): string {
    try {
      return readFileSync(this.logPath, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** SIGTERM (a clean stop: a CPU profile is written), SIGKILL if it hangs. */
  async stop(): Promise<void> {
    await stopProcess(this.child, 15_000);
  }
}
