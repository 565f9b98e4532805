/** One run's figures, computed from its record: what the report tables, the chart and the JSON show. */
import {
  imbalanceOf,
  imbalanceSeries,
  leaveTime,
  peak,
  peakRate,
  settleMs,
  shareRamp,
  total,
  type LeaveTime,
  type Outage,
  type Peak,
  type ShareBin,
} from './analysis.js';
import type { Side } from './behaviours.js';
import type { FailureReason } from './client.js';
import type { LoopHealth } from './loop-health.js';
import type { RunRecord } from './run.js';
import type { ScenarioId } from './scenarios.js';

/** A burst: its largest 100-ms bucket (all handshakes, and fleet clients' only) and its busiest second. */
export interface Burst {
  all: Peak;
  client: Peak;
  /** Client handshakes per second in the busiest 1-s window. */
  clientPerSecond: number;
  /** Client handshakes in the whole window. */
  clientTotal: number;
}

/** The figures of one run. */
export interface RunSummary {
  scenario: ScenarioId;
  side: Side;
  /** Open client connections over all servers just before the fault. */
  connectionsBefore: number;
  /** Health-check handshakes per server per second (the 10 s before the fault). */
  checkHandshakesPerServerPerS: number;
  /** Over the whole run from the fault on. */
  peakAll: Peak;
  peakClient: Peak;
  /** Each outage: handshakes on any server while it lasts (for a kill, the kill burst). */
  leaving: Array<{ server: string; kind: 'readyz' | 'kill'; burst: Burst }>;
  /** Each outage's end: handshakes onto the returned server in the next 60 s (or until the next outage). */
  returning: Array<{ server: string; burst: Burst; ramp: ShareBin[] }>;
  leave: LeaveTime[];
  requests: { total: number; failed: number; retried: number; failedByReason: Partial<Record<FailureReason, number>> };
  imbalance: {
    /** Just before the fault: where the fleet started from. */
    before: number;
    /** Seconds after the last server came back → imbalance then. */
    samples: Array<{ afterS: number; value: number }>;
    /** After the last server came back, until it stays ≤ 1.25; null when it still exceeds it at the end. */
    settleMs: number | null;
    end: number;
  };
  connectedAtFault: number;
  connectedAtEnd: number;
  proxy: { failed: number; retried: number };
  warmup: RunRecord['warmup'];
  health: RunRecord['health'];
  /** Per second from the start: open client connections (end of the second) and the largest 100-ms client handshake count, per server. */
  chart: {
    open: Record<string, number[]>;
    clientHandshakes: Record<string, number[]>;
    outages: Outage[];
    faultStartMs: number;
    faultEndMs: number;
  };
}

const RETURN_WINDOW_MS = 60_000;
const SAMPLES_S = [0, 10, 30, 60, 120, 180, 240, 300];

/** Figures of one run. */
export function summarize(r: RunRecord): RunSummary {
  const { series, bucketMs, servers } = r;
  const outages: Outage[] = r.phases.map((p) => ({ server: p.server, downAtMs: p.downAtMs, upAtMs: p.upAtMs }));
  const burst = (on: readonly string[], from: number, to: number): Burst => ({
    all: peak(series, on, 'handshakes', from, to, bucketMs),
    client: peak(series, on, 'clientHandshakes', from, to, bucketMs),
    clientPerSecond: peakRate(series, on, 'clientHandshakes', from, to, bucketMs),
    clientTotal: total(series, on, 'clientHandshakes', from, to, bucketMs),
  });
  const nextDown = (after: number): number => Math.min(r.endMs, ...outages.map((o) => o.downAtMs).filter((t) => t > after));
  const imbalance = imbalanceSeries(series, outages, bucketMs);
  const at = (ms: number): number => imbalance[Math.min(imbalance.length - 1, Math.floor(ms / bucketMs))] ?? NaN;
  const observedS = (r.endMs - r.faultEndMs) / 1000;
  const settled = settleMs(imbalance, r.faultEndMs, bucketMs);
  const failedByReason: Partial<Record<FailureReason, number>> = {};
  for (const f of r.clients.failures) failedByReason[f.reason] = (failedByReason[f.reason] ?? 0) + 1;
  const checks =
    total(series, servers, 'handshakes', r.faultStartMs - 10_000, r.faultStartMs, bucketMs) -
    total(series, servers, 'clientHandshakes', r.faultStartMs - 10_000, r.faultStartMs, bucketMs);
  const beforeBucket = Math.floor(r.faultStartMs / bucketMs) - 1;

  return {
    scenario: r.scenario,
    side: r.side,
    connectionsBefore: servers.reduce((n, s) => n + (series[s]?.open[beforeBucket] ?? 0), 0),
    checkHandshakesPerServerPerS: checks / 10 / servers.length,
    peakAll: peak(series, servers, 'handshakes', r.faultStartMs, r.endMs, bucketMs),
    peakClient: peak(series, servers, 'clientHandshakes', r.faultStartMs, r.endMs, bucketMs),
    leaving: r.phases.map((p) => ({ server: p.server, kind: p.kind, burst: burst(servers, p.downAtMs, p.upAtMs) })),
    returning: r.phases.map((p) => {
      const until = Math.min(p.upAtMs + RETURN_WINDOW_MS, nextDown(p.upAtMs));
      return { server: p.server, burst: burst([p.server], p.upAtMs, until), ramp: shareRamp(series, p.server, p.upAtMs, until, bucketMs) };
    }),
    leave: outages.map((o) => leaveTime(series, o, bucketMs)),
    requests: { total: r.clients.requests, failed: r.clients.failed, retried: r.clients.retried, failedByReason },
    imbalance: {
      // Every server is in service before the fault (the series' rule would drop one whose outage starts at that bucket's end).
      before: imbalanceOf(servers.map((s) => series[s]?.open[beforeBucket] ?? 0)),
      // A second of slack: the observation is timed from the planned return, the return itself lands a few ms later.
      samples: SAMPLES_S.filter((s) => s <= observedS + 1).map((s) => ({ afterS: s, value: at(r.faultEndMs + s * 1000) })),
      settleMs: settled ?? null,
      end: imbalance[imbalance.length - 1] ?? NaN,
    },
    connectedAtFault: r.connectedAtFault,
    connectedAtEnd: r.connectedAtEnd,
    proxy: r.proxy,
    warmup: r.warmup,
    health: r.health,
    chart: {
      open: perSecond(
        series,
        servers,
        bucketMs,
        (s) => s.open,
        (values) => values[values.length - 1] ?? 0,
      ),
      clientHandshakes: perSecond(
        series,
        servers,
        bucketMs,
        (s) => s.clientHandshakes,
        (values) => Math.max(0, ...values),
      ),
      outages,
      faultStartMs: r.faultStartMs,
      faultEndMs: r.faultEndMs,
    },
  };
}

/** One value per second and server, reduced from its buckets. */
function perSecond(
  series: RunRecord['series'],
  servers: readonly string[],
  bucketMs: number,
  pick: (s: RunRecord['series'][string]) => number[],
  reduce: (values: number[]) => number,
): Record<string, number[]> {
  const per = Math.max(1, Math.round(1000 / bucketMs));
  const out: Record<string, number[]> = {};
  for (const name of servers) {
    const values = pick(series[name] as RunRecord['series'][string]);
    out[name] = Array.from({ length: Math.floor(values.length / per) }, (_, i) => reduce(values.slice(i * per, (i + 1) * per)));
  }
  return out;
}

/** The worst event-loop figures over some of the simulator's processes (its own health). */
export function worstHealth(health: readonly LoopHealth[]): LoopHealth {
  return {
    lagP50Ms: Math.max(0, ...health.map((h) => h.lagP50Ms)),
    lagP99Ms: Math.max(0, ...health.map((h) => h.lagP99Ms)),
    lagMaxMs: Math.max(0, ...health.map((h) => h.lagMaxMs)),
    cpuPercent: Math.max(0, ...health.map((h) => h.cpuPercent)),
    rssMiB: Math.max(0, ...health.map((h) => h.rssMiB)),
  };
}
