/**
 * One fleet run: a scenario with the behaviours on or off. Starts the API-server process and the agent
 * workers afresh, lets the fleet settle, plays the scenario's faults on time, observes, and collects
 * what every process recorded.
 */
import path from 'node:path';
import type { LoadBalancerOptionsInput } from '../../src/loadbalancer/index.js';
import { WorkerProcess } from '../lib/ipc.js';
import { nowMs, sleep } from '../lib/stats.js';
import type { AgentWorkerOps } from './agent-worker.js';
import type { Side } from './behaviours.js';
import type { ClientCounters } from './client.js';
import type { LoopHealth } from './loop-health.js';
import type { FleetSeries } from './recorder.js';
import { faultEndMs, faultScript, type FleetParams, type Scenario, type ScenarioId } from './scenarios.js';
import type { ServerOps } from './server-worker.js';

/** A phase as it happened: ms since the recording start. */
export interface AppliedPhase {
  server: string;
  kind: 'readyz' | 'kill';
  downAtMs: number;
  upAtMs: number;
}

/** What one run recorded. */
export interface RunRecord {
  scenario: ScenarioId;
  side: Side;
  servers: string[];
  bucketMs: number;
  series: FleetSeries;
  /** Ms since the recording start. */
  faultStartMs: number;
  faultEndMs: number;
  endMs: number;
  phases: AppliedPhase[];
  /** Client requests; failure times in ms since the recording start. */
  clients: ClientCounters;
  /** Client connections open at the end, of agents × connections. */
  connectedAtEnd: number;
  proxy: { failed: number; retried: number };
  health: { agentWorkers: LoopHealth[]; servers: LoopHealth };
}

const here = import.meta.dirname;

/** Run `scenario` once with `options` as the balancers' options. */
export async function runScenario(
  params: FleetParams,
  scenario: Scenario,
  side: Side,
  options: LoadBalancerOptionsInput,
  log: (line: string) => void,
): Promise<RunRecord> {
  const tag = `[${scenario.id}/${side}]`;
  const serverProcess = WorkerProcess.start<ServerOps>('fleet api servers', path.join(here, 'server-worker.js'));
  const workers = Array.from({ length: params.workers }, (_, i) =>
    WorkerProcess.start<AgentWorkerOps>(`fleet agents ${i + 1}`, path.join(here, 'agent-worker.js')),
  );
  try {
    const { servers, startMs } = await serverProcess.call('start', { hosts: params.servers });
    const names = servers.map((s) => s.name);
    const rel = (wall: number): number => wall - startMs;
    const agentsStart = nowMs();
    await Promise.all(
      workers.map((w, i) =>
        w.call(
          'start',
          {
            agents: share(params.agents, params.workers, i),
            connectionsPerAgent: params.connectionsPerAgent,
            upstreams: servers.map(({ host, port }) => ({ host, port })),
            options,
            staggerMs: params.staggerMs,
            requestGapMs: params.requestGapMs,
            requestTimeoutMs: params.requestTimeoutMs,
          },
          params.staggerMs + 60_000,
        ),
      ),
    );
    log(
      `${tag} ${params.agents} agents up (${Math.round(nowMs() - agentsStart)} ms); fault in ${Math.round((agentsStart + params.warmupMs - nowMs()) / 1000)} s`,
    );

    const faultAt = agentsStart + params.warmupMs;
    const applied: Array<{ server: number; action: string; atMs: number }> = [];
    for (const step of faultScript(scenario)) {
      await sleep(Math.max(0, faultAt + step.atMs - nowMs()));
      const name = names[step.server] as string;
      const { atMs } = await serverProcess.call('fault', { server: name, action: step.action });
      applied.push({ server: step.server, action: step.action, atMs });
      log(`${tag} ${name}: ${step.action} at +${((atMs - rel(faultAt)) / 1000).toFixed(1)} s`);
    }
    const phases: AppliedPhase[] = scenario.phases.map((p) => {
      const at = (actions: string[]): number => applied.find((a) => a.server === p.server && actions.includes(a.action))?.atMs ?? NaN;
      return { server: names[p.server] as string, kind: p.kind, downAtMs: at(['kill', 'readyz500']), upAtMs: at(['restart', 'readyz200']) };
    });
    const end = faultAt + faultEndMs(scenario) + params.observeMs;
    for (let left = end - nowMs(); left > 0; left = end - nowMs()) {
      await sleep(Math.min(left, 60_000));
      if (end - nowMs() > 1_000) log(`${tag} observing, ${Math.round((end - nowMs()) / 1000)} s left`);
    }

    const stats = await Promise.all(workers.map((w) => w.call('stats', {})));
    const collected = await serverProcess.call('collect', {});
    const clients: ClientCounters = { requests: 0, ok: 0, failed: 0, retried: 0, failures: [] };
    for (const s of stats) {
      clients.requests += s.clients.requests;
      clients.ok += s.clients.ok;
      clients.failed += s.clients.failed;
      clients.retried += s.clients.retried;
      clients.failures.push(...s.clients.failures.map((f) => ({ ...f, atMs: rel(f.atMs) })));
    }
    clients.failures.sort((x, y) => x.atMs - y.atMs);
    return {
      scenario: scenario.id,
      side,
      servers: names,
      bucketMs: collected.bucketMs,
      series: collected.series,
      faultStartMs: rel(faultAt),
      faultEndMs: Math.max(...phases.map((p) => p.upAtMs)),
      endMs: rel(end),
      phases,
      clients,
      connectedAtEnd: stats.reduce((n, s) => n + s.connected, 0),
      proxy: {
        failed: stats.reduce((n, s) => n + s.proxy.failed, 0),
        retried: stats.reduce((n, s) => n + s.proxy.retried, 0),
      },
      health: { agentWorkers: stats.map((s) => s.health), servers: collected.health },
    };
  } finally {
    await Promise.allSettled(workers.map((w) => w.call('stop', {}, 30_000)));
    await Promise.allSettled([serverProcess.call('stop', {}, 10_000)]);
    await Promise.allSettled([...workers, serverProcess].map((w) => w.stop()));
  }
}

/** Agents of worker `i` when `total` are spread over `workers`. */
export function share(total: number, workers: number, i: number): number {
  return Math.floor(total / workers) + (i < total % workers ? 1 : 0);
}
