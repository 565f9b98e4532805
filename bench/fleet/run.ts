/**
 * One fleet run: a scenario with the behaviours on or off. Starts the API-server process and the agent
 * workers afresh, lets the fleet settle, plays the scenario's faults on time, observes, and collects
 * what every process recorded.
 */
import path from 'node:path';
import type { LoadBalancerOptionsInput } from '../../src/loadbalancer/index.js';
import { WorkerProcess } from '../lib/ipc.js';
import { nowMs, sleep } from '../lib/stats.js';
import type { AgentWorkerOps, AgentWorkerStats } from './agent-worker.js';
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
  /** Client requests from the fault on; failure times in ms since the recording start. */
  clients: ClientCounters;
  /** Client connections open when the fault came and at the end, of agents × connections. */
  connectedAtFault: number;
  connectedAtEnd: number;
  /** The balancers, from the fault on: connections moved before their first answer, and given up. */
  proxy: { failed: number; retried: number };
  /** The warm-up (agents starting, clients connecting): its length and what went wrong in it. */
  warmup: { ms: number; failed: number; retried: number; proxyRetried: number; proxyFailed: number };
  health: { agentWorkers: LoopHealth[]; servers: LoopHealth[] };
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
  const names = params.servers.map((_, i) => `apiserver-${i + 1}`);
  const serverProcesses = names.map((name) => WorkerProcess.start<ServerOps>(name, path.join(here, 'server-worker.js')));
  const workers = Array.from({ length: params.workers }, (_, i) =>
    WorkerProcess.start<AgentWorkerOps>(`fleet agents ${i + 1}`, path.join(here, 'agent-worker.js')),
  );
  try {
    const startMs = nowMs();
    const servers = await Promise.all(
      serverProcesses.map(async (p, i) => {
        const host = params.servers[i] as string;
        const args = { name: names[i] as string, host, readyzDelayMs: params.readyzDelayMs, startMs };
        return { host, port: (await p.call('start', args)).port };
      }),
    );
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
            connectSpreadMs: params.connectSpreadMs,
            requestGapMs: params.requestGapMs,
            requestTimeoutMs: params.requestTimeoutMs,
          },
          params.staggerMs + 60_000,
        ),
      ),
    );
    log(`${tag} ${params.agents} agents up (${Math.round(nowMs() - agentsStart)} ms)`);

    // The fault comes after the warm-up, once every client is connected (bounded: a fleet that cannot
    // settle is reported as it is).
    const wanted = params.agents * params.connectionsPerAgent;
    const settleBy = agentsStart + params.warmupMs + SETTLE_LIMIT_MS;
    await sleep(Math.max(0, agentsStart + params.warmupMs - nowMs()));
    let baseline = await Promise.all(workers.map((w) => w.call('stats', {})));
    while (connected(baseline) < wanted && nowMs() < settleBy) {
      await sleep(1_000);
      baseline = await Promise.all(workers.map((w) => w.call('stats', {})));
    }
    const faultAt = nowMs();
    log(
      `${tag} fault after ${Math.round((faultAt - agentsStart) / 1000)} s of warm-up, ${connected(baseline)} of ${wanted} clients connected`,
    );
    const applied: Array<{ server: number; action: string; atMs: number }> = [];
    for (const step of faultScript(scenario)) {
      await sleep(Math.max(0, faultAt + step.atMs - nowMs()));
      const name = names[step.server] as string;
      const { atMs } = await (serverProcesses[step.server] as WorkerProcess<ServerOps>).call('fault', { action: step.action });
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
    const collected = await Promise.all(serverProcesses.map((p) => p.call('collect', {})));
    // Collected a moment apart: the series end at the shortest one.
    const buckets = Math.min(...collected.map((c) => c.series.open.length));
    const series: FleetSeries = {};
    collected.forEach((c, i) => {
      const cut = (values: number[]): number[] => values.slice(0, buckets);
      series[names[i] as string] = {
        open: cut(c.series.open),
        handshakes: cut(c.series.handshakes),
        clientHandshakes: cut(c.series.clientHandshakes),
        requests: cut(c.series.requests),
      };
    });
    const warmup = sumStats(baseline, rel);
    const whole = sumStats(stats, rel);
    return {
      scenario: scenario.id,
      side,
      servers: names,
      bucketMs: collected[0]?.bucketMs ?? 100,
      series,
      faultStartMs: rel(faultAt),
      faultEndMs: Math.max(...phases.map((p) => p.upAtMs)),
      endMs: rel(end),
      phases,
      clients: minus(whole.clients, warmup.clients, rel(faultAt)),
      connectedAtFault: connected(baseline),
      connectedAtEnd: connected(stats),
      proxy: { failed: whole.proxy.failed - warmup.proxy.failed, retried: whole.proxy.retried - warmup.proxy.retried },
      warmup: {
        ms: faultAt - agentsStart,
        failed: warmup.clients.failed,
        retried: warmup.clients.retried,
        proxyRetried: warmup.proxy.retried,
        proxyFailed: warmup.proxy.failed,
      },
      health: { agentWorkers: stats.map((s) => s.health), servers: collected.map((c) => c.health) },
    };
  } finally {
    await Promise.allSettled(workers.map((w) => w.call('stop', {}, 30_000)));
    await Promise.allSettled(serverProcesses.map((p) => p.call('stop', {}, 10_000)));
    await Promise.allSettled([...workers, ...serverProcesses].map((w) => w.stop()));
  }
}

/** How long past the warm-up the fault waits for every client to be connected. */
const SETTLE_LIMIT_MS = 60_000;

function connected(stats: readonly AgentWorkerStats[]): number {
  return stats.reduce((n, s) => n + s.connected, 0);
}

/** The workers' counters added up (failure times made relative with `rel`). */
function sumStats(
  stats: readonly AgentWorkerStats[],
  rel: (wall: number) => number,
): { clients: ClientCounters; proxy: AgentWorkerStats['proxy'] } {
  const clients: ClientCounters = { requests: 0, ok: 0, failed: 0, retried: 0, failures: [] };
  const proxy = { failed: 0, retried: 0 };
  for (const s of stats) {
    clients.requests += s.clients.requests;
    clients.ok += s.clients.ok;
    clients.failed += s.clients.failed;
    clients.retried += s.clients.retried;
    clients.failures.push(...s.clients.failures.map((f) => ({ ...f, atMs: rel(f.atMs) })));
    proxy.failed += s.proxy.failed;
    proxy.retried += s.proxy.retried;
  }
  clients.failures.sort((x, y) => x.atMs - y.atMs);
  return { clients, proxy };
}

/** What happened from `fromMs` on: `end` less the `start` counters. */
function minus(end: ClientCounters, start: ClientCounters, fromMs: number): ClientCounters {
  return {
    requests: end.requests - start.requests,
    ok: end.ok - start.ok,
    failed: end.failed - start.failed,
    retried: end.retried - start.retried,
    failures: end.failures.filter((f) => f.atMs >= fromMs),
  };
}

/** Agents of worker `i` when `total` are spread over `workers`. */
export function share(total: number, workers: number, i: number): number {
  return Math.floor(total / workers) + (i < total % workers ? 1 : 0);
}
