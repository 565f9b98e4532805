/**
 * Failover: three TLS fake API servers behind the proxy, a steady stream of new connections (each one
 * HTTPS request), and one upstream — the one in use — broken and then repaired: killed, black-holed
 * (accepts, never answers), or `/readyz` turning 500. The same scenarios run against HAProxy.
 */
import type { Socket } from 'node:net';
import type { GeneratorOps, StreamEvent } from './load-generator.js';
import type { WorkerProcess } from './lib/ipc.js';
import { median, nowMs, sleep } from './lib/stats.js';
import { FakeApiServer } from '../test/harness/fake-apiserver.js';

/** The ways the upstream in use is broken. */
export type FaultKind = 'kill' | 'blackhole' | 'readyz500';

/** Human names of the faults. */
export const FAULT_LABELS: Record<FaultKind, string> = {
  kill: 'upstream killed',
  blackhole: 'upstream black-holed',
  readyz500: '/readyz turns 500',
};

/** Timing of a scenario. */
export interface FailoverParams {
  runs: number;
  /** Client stream: one new connection every `streamIntervalMs`, given up after `clientTimeoutMs`. */
  streamIntervalMs: number;
  clientTimeoutMs: number;
  warmupMs: number;
  faultMs: number;
  recoverMs: number;
  checkIntervalMs: number;
  checkTimeoutMs: number;
}

/** One scenario run. */
export interface FailoverSample {
  requests: number;
  /** Client connections opened after the fault that failed (the target is 0). */
  failed: number;
  /** Requests already running on the upstream when it was killed (lost whatever the proxy does). */
  inFlightLost: number;
  longestGapMs: number;
  /** Fault → the proxy sends the broken upstream no more new connections. */
  stopMs: number;
  /** Repair → the first new connection it answers. */
  reuseMs: number;
}

/** A proxy under test, as the scenarios see it. */
export interface FailoverProxy {
  target: { host: string; port: number };
  /** Resolves when every upstream is healthy again in the proxy's eyes. */
  waitAllHealthy(): Promise<void>;
  /** Start recording when the proxy marks upstreams down (address → time); returns the stop function. */
  followDown(onDown: (address: string, atMs: number) => void): () => void;
}

/** The three upstreams, with the traffic each one sees from the bench client (not from health checks). */
export class FailoverUpstreams {
  /** Times of client connections (black-hole mode) and client requests, per server name. */
  readonly clientTraffic = new Map<string, number[]>();

  private constructor(readonly servers: FakeApiServer[]) {
    for (const server of servers) {
      this.clientTraffic.set(server.name, []);
      server.on('request', (path: string) => {
        if (path === '/version') this.clientTraffic.get(server.name)?.push(nowMs());
      });
      // A black hole parses nothing: recognise the bench client by the SNI in its ClientHello.
      server.on('connection', (socket: Socket) => {
        if (!server.blackHole) return;
        const at = nowMs();
        socket.once('data', (chunk: Buffer) => {
          if (chunk.includes(CLIENT_SNI)) this.clientTraffic.get(server.name)?.push(at);
        });
      });
    }
  }

  /** Start three servers on 127.0.0.11-13. */
  static async start(): Promise<FailoverUpstreams> {
    const servers = await Promise.all(
      [11, 12, 13].map((n, i) => FakeApiServer.start({ name: `apiserver-${i + 1}`, host: `127.0.0.${n}` })),
    );
    return new FailoverUpstreams(servers);
  }

  /** Every server up, answering, ready. */
  async reset(): Promise<void> {
    for (const s of this.servers) {
      s.blackHole = false;
      s.readyzStatus = 200;
      await s.restart();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
  }
}

/** The SNI the bench client sends, so a black hole can tell it from health checks. */
export const CLIENT_SNI = 'bench-client';

function longestGap(events: StreamEvent[], from: number, to: number): number {
  const ends = events
    .filter((e) => e.ok)
    .map((e) => e.end)
    .filter((t) => t >= from && t <= to)
    .sort((a, b) => a - b);
  let gap = 0;
  let previous = from;
  for (const t of ends) {
    gap = Math.max(gap, t - previous);
    previous = t;
  }
  return Math.max(gap, to - previous);
}

/** Run one fault scenario against `proxy`. */
export async function runScenario(
  fault: FaultKind,
  proxy: FailoverProxy,
  upstreams: FailoverUpstreams,
  generator: WorkerProcess<GeneratorOps>,
  p: FailoverParams,
): Promise<FailoverSample> {
  await upstreams.reset();
  await proxy.waitAllHealthy();
  const started = nowMs();
  await generator.call('streamStart', {
    ...proxy.target,
    intervalMs: p.streamIntervalMs,
    timeoutMs: p.clientTimeoutMs,
    servername: CLIENT_SNI,
  });
  await sleep(p.warmupMs);
  // The upstream in use: the one that answered most of the warm-up requests.
  const since = (name: string, t: number): number => (upstreams.clientTraffic.get(name) ?? []).filter((x) => x >= t).length;
  const victim = [...upstreams.servers].sort((a, b) => since(b.name, started) - since(a.name, started))[0] as FakeApiServer;
  const victimAddress = `${victim.host}:${victim.port}`;
  let markedDown = NaN;
  const tFault = nowMs();
  const stopFollowing = proxy.followDown((address, at) => {
    if (address === victimAddress && Number.isNaN(markedDown) && at >= tFault) markedDown = at;
  });
  if (fault === 'kill') await victim.stop();
  else if (fault === 'blackhole') victim.blackHole = true;
  else victim.readyzStatus = 500;
  await sleep(p.faultMs);
  const tRecover = nowMs();
  if (fault === 'kill') await victim.restart();
  else if (fault === 'blackhole') victim.blackHole = false;
  else victim.readyzStatus = 200;
  await sleep(p.recoverMs);
  const { events } = await generator.call('streamStop', {});
  stopFollowing();
  const tEnd = nowMs();
  // A killed upstream gets nothing at all; the others still accept, so their last client traffic counts.
  const lastSeen = Math.max(tFault, ...(upstreams.clientTraffic.get(victim.name) ?? []).filter((t) => t >= tFault && t < tRecover));
  const stopAt = fault === 'kill' ? markedDown : lastSeen;
  const reused = events.find((e) => e.ok && e.name === victim.name && e.start >= tRecover);
  return {
    requests: events.length,
    failed: events.filter((e) => !e.ok && e.start >= tFault).length,
    inFlightLost: events.filter((e) => !e.ok && e.start < tFault).length,
    longestGapMs: longestGap(events, tFault - 500, tEnd),
    stopMs: stopAt - tFault,
    reuseMs: reused ? reused.start - tRecover : NaN,
  };
}

/** Medians of a scenario's runs. */
export function medianSample(samples: readonly FailoverSample[]): FailoverSample {
  const m = (f: (s: FailoverSample) => number): number => median(samples.map(f));
  return {
    requests: m((s) => s.requests),
    failed: m((s) => s.failed),
    inFlightLost: m((s) => s.inFlightLost),
    longestGapMs: m((s) => s.longestGapMs),
    stopMs: m((s) => s.stopMs),
    reuseMs: m((s) => s.reuseMs),
  };
}
