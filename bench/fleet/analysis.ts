/**
 * The fleet simulator's figures, computed from the per-100-ms series: peaks, time to leave a failed
 * server, imbalance over time and when it settles, and a returned server's share of new connections.
 * Pure functions over arrays (times in ms since the recording start), tested without sockets.
 */
import type { Counter, FleetSeries } from './recorder.js';

/** The target: the most loaded server holds at most this many times the least loaded one's connections. */
export const IMBALANCE_LIMIT = 1.25;

/** A server out of service from `downAtMs` to `upAtMs`. */
export interface Outage {
  server: string;
  downAtMs: number;
  upAtMs: number;
}

/** The largest value of a series in a window, and where. */
export interface Peak {
  value: number;
  server: string;
  /** Start of the bucket, ms since the recording start. */
  atMs: number;
}

/** Whether `server` is in service at `tMs` (outages are half-open: down from `downAtMs`, up from `upAtMs`). */
export function isUp(outages: readonly Outage[], server: string, tMs: number): boolean {
  return !outages.some((o) => o.server === server && tMs >= o.downAtMs && tMs < o.upAtMs);
}

/**
 * Most over least loaded open connections among the servers in service at the end of each bucket:
 * Infinity when one in service holds none while another holds some, NaN when fewer than two are in
 * service or none holds any.
 */
export function imbalanceSeries(series: FleetSeries, outages: readonly Outage[], bucketMs: number): number[] {
  const names = Object.keys(series);
  const length = Math.min(...names.map((n) => series[n]?.open.length ?? 0));
  const out: number[] = [];
  for (let b = 0; b < length; b++) {
    const end = (b + 1) * bucketMs;
    const open = names.filter((n) => isUp(outages, n, end)).map((n) => series[n]?.open[b] ?? 0);
    out.push(imbalanceOf(open));
  }
  return out;
}

/** Most over least of `open` (see {@link imbalanceSeries}). */
export function imbalanceOf(open: readonly number[]): number {
  if (open.length < 2) return NaN;
  const max = Math.max(...open);
  const min = Math.min(...open);
  if (max === 0) return NaN;
  return min === 0 ? Infinity : max / min;
}

/**
 * How long after `fromMs` the imbalance stays at or under `limit` until the end of the series: 0 when
 * it never exceeds it, undefined when it still does in the last bucket. A bucket that is unknown (NaN)
 * counts as over the limit.
 */
export function settleMs(imbalance: readonly number[], fromMs: number, bucketMs: number, limit = IMBALANCE_LIMIT): number | undefined {
  const from = Math.max(0, Math.floor(fromMs / bucketMs));
  if (from >= imbalance.length) return undefined;
  let lastOver = -1;
  for (let b = from; b < imbalance.length; b++) if (!((imbalance[b] as number) <= limit)) lastOver = b;
  if (lastOver === imbalance.length - 1) return undefined;
  if (lastOver < 0) return 0;
  return Math.max(0, (lastOver + 1) * bucketMs - fromMs);
}

/** Time to leave a failed server: until its open connections are at most 1 % of what it held, and until none. */
export interface LeaveTime {
  server: string;
  /** Open connections in the bucket before the fault. */
  openBefore: number;
  toOnePercentMs?: number;
  toZeroMs?: number;
}

/**
 * From the outage's start to the end of the first bucket (within the outage) where the server's open
 * connections fell to 1 % of what it held just before (rounded down), and to none.
 */
export function leaveTime(series: FleetSeries, outage: Outage, bucketMs: number): LeaveTime {
  const open = series[outage.server]?.open ?? [];
  const downBucket = Math.floor(outage.downAtMs / bucketMs);
  const openBefore = open[downBucket - 1] ?? 0;
  const onePercent = Math.floor(openBefore * 0.01);
  const out: LeaveTime = { server: outage.server, openBefore };
  const last = Math.min(open.length, Math.ceil(outage.upAtMs / bucketMs));
  for (let b = downBucket; b < last; b++) {
    const v = open[b] as number;
    const after = Math.max(0, (b + 1) * bucketMs - outage.downAtMs);
    if (out.toOnePercentMs === undefined && v <= onePercent) out.toOnePercentMs = after;
    if (v === 0) {
      out.toZeroMs = after;
      break;
    }
  }
  return out;
}

/** Indexes of the buckets that overlap `[fromMs, toMs)` (the one holding `fromMs` included). */
function bucketRange(fromMs: number, toMs: number, bucketMs: number, length: number): [number, number] {
  return [Math.max(0, Math.floor(fromMs / bucketMs)), Math.min(length, Math.ceil(toMs / bucketMs))];
}

/** The largest per-bucket `counter` of any of `servers` in `[fromMs, toMs)`; value 0 when the window is empty. */
export function peak(
  series: FleetSeries,
  servers: readonly string[],
  counter: Counter,
  fromMs: number,
  toMs: number,
  bucketMs: number,
): Peak {
  let best: Peak = { value: 0, server: servers[0] ?? '', atMs: fromMs };
  for (const server of servers) {
    const values = series[server]?.[counter] ?? [];
    const [lo, hi] = bucketRange(fromMs, toMs, bucketMs, values.length);
    for (let b = lo; b < hi; b++) {
      if ((values[b] as number) > best.value) best = { value: values[b] as number, server, atMs: b * bucketMs };
    }
  }
  return best;
}

/** Sum of `counter` over `servers` and the buckets that overlap `[fromMs, toMs)`. */
export function total(
  series: FleetSeries,
  servers: readonly string[],
  counter: Counter,
  fromMs: number,
  toMs: number,
  bucketMs: number,
): number {
  return sumBuckets(series, servers, counter, Math.floor(fromMs / bucketMs), Math.ceil(toMs / bucketMs));
}

/** Sum of `counter` over `servers` and the buckets `lo` (included) to `hi` (excluded). */
function sumBuckets(series: FleetSeries, servers: readonly string[], counter: Counter, lo: number, hi: number): number {
  let sum = 0;
  for (const server of servers) {
    const values = series[server]?.[counter] ?? [];
    for (let b = Math.max(0, lo); b < Math.min(values.length, hi); b++) sum += values[b] as number;
  }
  return sum;
}

/**
 * The highest rate (per second) of `counter` summed over `servers` in any window of `windowMs` within
 * the buckets overlapping `[fromMs, toMs)`: the figure that scales with the fleet (a 100-ms peak is noisier).
 */
export function peakRate(
  series: FleetSeries,
  servers: readonly string[],
  counter: Counter,
  fromMs: number,
  toMs: number,
  bucketMs: number,
  windowMs = 1_000,
): number {
  const width = Math.max(1, Math.round(windowMs / bucketMs));
  const length = Math.min(...servers.map((s) => series[s]?.[counter].length ?? 0));
  const [lo, hi] = bucketRange(fromMs, toMs, bucketMs, length);
  const summed = Array.from({ length }, (_, b) => servers.reduce((n, s) => n + (series[s]?.[counter][b] ?? 0), 0));
  let best = 0;
  for (let b = lo; b < hi; b++) {
    let sum = 0;
    for (let k = b; k < Math.min(hi, b + width); k++) sum += summed[k] as number;
    best = Math.max(best, sum);
  }
  return (best * 1000) / (width * bucketMs);
}

/** One bin of a returned server's share of new client connections. */
export interface ShareBin {
  /** Seconds after the server came back. */
  fromS: number;
  toS: number;
  /** New client connections (handshakes) it took, and all servers together. */
  onServer: number;
  all: number;
  /** onServer / all; NaN when there were none at all. */
  share: number;
}

/** Bins (seconds after the return) the ramp is reported in: slow start's default is 30 s. */
export const SHARE_BINS_S: ReadonlyArray<[number, number]> = [
  [0, 5],
  [5, 10],
  [10, 20],
  [20, 30],
  [30, 60],
];

/**
 * The share of new client connections `server` takes after it returns at `upAtMs`, per bin, up to
 * `untilMs`. Bins are whole buckets counted from the one holding `upAtMs`, so none is counted twice.
 */
export function shareRamp(
  series: FleetSeries,
  server: string,
  upAtMs: number,
  untilMs: number,
  bucketMs: number,
  bins: ReadonlyArray<[number, number]> = SHARE_BINS_S,
): ShareBin[] {
  const servers = Object.keys(series);
  const base = Math.floor(upAtMs / bucketMs);
  const until = Math.ceil(untilMs / bucketMs);
  return bins
    .filter(([fromS]) => base + (fromS * 1000) / bucketMs < until)
    .map(([fromS, toS]) => {
      const lo = base + Math.round((fromS * 1000) / bucketMs);
      const hi = Math.min(until, base + Math.round((toS * 1000) / bucketMs));
      const onServer = sumBuckets(series, [server], 'clientHandshakes', lo, hi);
      const all = sumBuckets(series, servers, 'clientHandshakes', lo, hi);
      return { fromS, toS: ((hi - base) * bucketMs) / 1000, onServer, all, share: all > 0 ? onServer / all : NaN };
    });
}
