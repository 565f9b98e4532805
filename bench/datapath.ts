/**
 * The data-path measurements: every contender, started fresh each run on the same upstream, driven by
 * the same load generator. Runs interleave the contenders (rotating their order) so a slow moment of
 * the machine does not land on one contender only. Memory is measured apart, with every contender
 * running at once: a process's resident memory does not depend on the machine's load, but it does on
 * time (a Node process's heap shrinks once V8 sees it idle, ~8 s after its last collection), so each
 * reading waits for the processes to settle, and one wait serves them all.
 */
import type { Contender, ContenderId, RunningContender } from './contenders.js';
import type { GeneratorOps } from './load-generator.js';
import type { WorkerProcess } from './lib/ipc.js';
import { median, sleep } from './lib/stats.js';
import type { UpstreamOps } from './upstream-server.js';

/** Where the data-path upstream listens (the proxies listen on 127.0.0.1). */
export const UPSTREAM_HOST = '127.0.0.2';

/** Sizes and durations of the data-path workload. */
export interface DataPathParams {
  runs: number;
  bulkWarmupMs: number;
  bulkDurationMs: number;
  parallelConnections: number;
  rttMessages: number;
  rttWarmup: number;
  messageBytes: number;
  cpsConcurrency: number;
  cpsWarmupMs: number;
  cpsDurationMs: number;
  idleConnections: number;
  /** Memory rounds (every contender started fresh, all at once). */
  memoryRuns: number;
  /** Window of each memory reading (its lowest value): the idle process, then with the idle connections open. */
  memorySettleMs: number;
}

/** One run of one contender. */
export interface DataPathSample {
  /** Upstream → client on one connection, and on `parallelConnections`. */
  download1BytesPerSec: number;
  download8BytesPerSec: number;
  /** Client → upstream on one connection, and on `parallelConnections` (acknowledged by the upstream). */
  upload1BytesPerSec: number;
  upload8BytesPerSec: number;
  rttP50Us: number;
  rttP99Us: number;
  connectionsPerSec: number;
  connectionErrors: number;
  /** Proxy memory before the idle connections and with them open (bytes); undefined for direct. */
  memoryBaseBytes?: number;
  memoryIdleBytes?: number;
}

/** The medians of a contender's samples (per idle connection derived from the medians of each run). */
export interface DataPathResult {
  id: ContenderId;
  label: string;
  version: string;
  skipped?: string;
  samples: DataPathSample[];
  median?: DataPathSample & { perIdleConnectionBytes?: number };
}

async function runOne(
  contender: Contender,
  upstreams: WorkerProcess<UpstreamOps>,
  generator: WorkerProcess<GeneratorOps>,
  p: DataPathParams,
): Promise<DataPathSample> {
  const upstream = { host: UPSTREAM_HOST, ...(await upstreams.call('start', { host: UPSTREAM_HOST })) };
  const running = await contender.start(upstream);
  try {
    const target = running.target;
    const bulk = { ...target, warmupMs: p.bulkWarmupMs, durationMs: p.bulkDurationMs };
    const download1 = await generator.call('bulk', { ...bulk, connections: 1 });
    const download8 = await generator.call('bulk', { ...bulk, connections: p.parallelConnections });
    const upload1 = await generator.call('upload', { ...bulk, connections: 1 });
    const upload8 = await generator.call('upload', { ...bulk, connections: p.parallelConnections });
    const rtt = await generator.call('rtt', { ...target, messages: p.rttMessages, warmup: p.rttWarmup, size: p.messageBytes });
    const cps = await generator.call('cps', {
      ...target,
      concurrency: p.cpsConcurrency,
      warmupMs: p.cpsWarmupMs,
      durationMs: p.cpsDurationMs,
    });
    return {
      download1BytesPerSec: download1.bytesPerSec,
      download8BytesPerSec: download8.bytesPerSec,
      upload1BytesPerSec: upload1.bytesPerSec,
      upload8BytesPerSec: upload8.bytesPerSec,
      rttP50Us: rtt.p50Us,
      rttP99Us: rtt.p99Us,
      connectionsPerSec: cps.perSec,
      connectionErrors: cps.errors,
    };
  } finally {
    await running.stop();
  }
}

/**
 * Each contender's settled memory: its lowest reading over `windowMs`, read every second. Nothing is
 * happening to them, so their resident memory only falls (a Node heap is shrunk by V8 some seconds
 * after it sees the process idle, at a moment that varies from run to run); the lowest reading is the
 * settled one.
 */
async function settledMemory(
  running: ReadonlyArray<{ id: ContenderId; proxy: RunningContender }>,
  windowMs: number,
): Promise<Map<ContenderId, number | undefined>> {
  const lowest = new Map<ContenderId, number | undefined>();
  for (const deadline = performance.now() + windowMs; ;) {
    for (const { id, proxy } of running) {
      const now = proxy.memoryBytes();
      const before = lowest.get(id);
      lowest.set(id, now === undefined || before === undefined ? (before ?? now) : Math.min(before, now));
    }
    if (performance.now() >= deadline) return lowest;
    await sleep(1_000);
  }
}

/** Memory of one contender: idle (after a few connections), and with the idle connections open. */
type MemorySample = Pick<DataPathSample, 'memoryBaseBytes' | 'memoryIdleBytes'>;

/**
 * One memory round: every contender started fresh at once and warmed up with a few connections, its
 * settled memory read (see settledMemory); then each gets its idle connections, and it is read again.
 */
async function memoryRound(
  contenders: readonly Contender[],
  upstreams: WorkerProcess<UpstreamOps>,
  generator: WorkerProcess<GeneratorOps>,
  p: DataPathParams,
): Promise<Map<ContenderId, MemorySample>> {
  const upstream = { host: UPSTREAM_HOST, ...(await upstreams.call('start', { host: UPSTREAM_HOST })) };
  const running: Array<{ id: ContenderId; proxy: RunningContender }> = [];
  const samples = new Map<ContenderId, MemorySample>();
  try {
    for (const c of contenders) running.push({ id: c.id, proxy: await c.start(upstream) });
    for (const { proxy } of running) await generator.call('cps', { ...proxy.target, concurrency: 4, warmupMs: 0, durationMs: 300 });
    const idle = await settledMemory(running, p.memorySettleMs);
    for (const { id } of running) samples.set(id, { memoryBaseBytes: idle.get(id) });
    for (const { proxy } of running) await generator.call('idleOpen', { ...proxy.target, count: p.idleConnections });
    const open = await settledMemory(running, p.memorySettleMs);
    for (const { id } of running) (samples.get(id) as MemorySample).memoryIdleBytes = open.get(id);
    return samples;
  } finally {
    await generator.call('idleClose', {});
    for (const { proxy } of running) await proxy.stop();
  }
}

function medianOf(samples: DataPathSample[]): NonNullable<DataPathResult['median']> {
  const m = (f: (s: DataPathSample) => number | undefined): number => median(samples.map((s) => f(s) ?? NaN));
  const result: NonNullable<DataPathResult['median']> = {
    download1BytesPerSec: m((s) => s.download1BytesPerSec),
    download8BytesPerSec: m((s) => s.download8BytesPerSec),
    upload1BytesPerSec: m((s) => s.upload1BytesPerSec),
    upload8BytesPerSec: m((s) => s.upload8BytesPerSec),
    rttP50Us: m((s) => s.rttP50Us),
    rttP99Us: m((s) => s.rttP99Us),
    connectionsPerSec: m((s) => s.connectionsPerSec),
    connectionErrors: m((s) => s.connectionErrors),
  };
  if (samples.some((s) => s.memoryIdleBytes !== undefined)) {
    result.memoryBaseBytes = m((s) => s.memoryBaseBytes);
    result.memoryIdleBytes = m((s) => s.memoryIdleBytes);
    result.perIdleConnectionBytes = m((s) =>
      s.memoryIdleBytes !== undefined && s.memoryBaseBytes !== undefined ? s.memoryIdleBytes - s.memoryBaseBytes : undefined,
    );
  }
  return result;
}

/** Run every available contender `params.runs` times; medians per contender. */
export async function runDataPath(
  contenders: readonly Contender[],
  upstreams: WorkerProcess<UpstreamOps>,
  generator: WorkerProcess<GeneratorOps>,
  params: DataPathParams,
  log: (line: string) => void,
): Promise<DataPathResult[]> {
  const results: DataPathResult[] = contenders.map((c) => ({
    id: c.id,
    label: c.label,
    version: c.version,
    ...(c.skipped ? { skipped: c.skipped } : {}),
    samples: [],
  }));
  const live = contenders.filter((c) => !c.skipped);
  for (let run = 0; run < params.runs; run++) {
    const order = live.map((_, i) => live[(i + run) % live.length] as Contender);
    for (const contender of order) {
      const started = performance.now();
      const sample = await runOne(contender, upstreams, generator, params);
      (results.find((r) => r.id === contender.id) as DataPathResult).samples.push(sample);
      log(
        `  run ${run + 1}/${params.runs} ${contender.label.padEnd(18)} ${describe(sample)} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
      );
    }
  }
  const measured = live.filter((c) => c.id !== 'direct');
  for (let run = 0; run < params.memoryRuns && measured.length > 0; run++) {
    const started = performance.now();
    const memory = await memoryRound(measured, upstreams, generator, params);
    for (const [id, m] of memory) {
      const samples = (results.find((r) => r.id === id) as DataPathResult).samples;
      Object.assign(samples[run] ?? (samples[run] = {} as DataPathSample), m);
    }
    const mib = (b: number | undefined): string => (b === undefined ? '—' : (b / 2 ** 20).toFixed(1));
    const line = [...memory].map(([id, m]) => `${id} ${mib(m.memoryBaseBytes)}→${mib(m.memoryIdleBytes)}`).join(', ');
    log(
      `  memory ${run + 1}/${params.memoryRuns} (MiB, idle → ${params.idleConnections} idle connections): ${line} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
  }
  for (const r of results) {
    if (r.samples.length > 0) {
      r.median = medianOf(r.samples);
      if (r.median.perIdleConnectionBytes !== undefined) r.median.perIdleConnectionBytes /= params.idleConnections;
    }
  }
  return results;
}

function describe(s: DataPathSample): string {
  const mib = (b: number): string => (b / 2 ** 20).toFixed(0);
  return `down ${mib(s.download1BytesPerSec)}/${mib(s.download8BytesPerSec)} up ${mib(s.upload1BytesPerSec)}/${mib(s.upload8BytesPerSec)} MiB/s (1/8 conns), rtt ${s.rttP50Us.toFixed(0)}/${s.rttP99Us.toFixed(0)} µs, ${s.connectionsPerSec.toFixed(0)} conn/s${s.connectionErrors ? ` (${s.connectionErrors} errors)` : ''}`;
}
