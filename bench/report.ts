/** The results: one Markdown table set (printed and written), the JSON, and the SVG chart. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ratioChart, type ChartRow } from './chart.js';
import type { ControlPlaneResult } from './control-plane.js';
import type { DataPathParams, DataPathResult, DataPathSample } from './datapath.js';
import { FAULT_LABELS, type FailoverParams } from './failover.js';
import type { FailoverResult } from './failover-run.js';
import { fmt, ratio } from './lib/stats.js';

/** Everything one `npm run bench` produced. */
export interface BenchResults {
  date: string;
  machine: { cpu: string; cores: number; memoryGiB: number; kernel: string; node: string };
  versions: Record<string, string>;
  quick: boolean;
  durationSeconds: number;
  params: { dataPath: DataPathParams; failover: FailoverParams; controlPlaneRepeats: number };
  dataPath: DataPathResult[];
  failover: FailoverResult[];
  controlPlane?: ControlPlaneResult;
  skipped: Record<string, string>;
}

/** Machine facts for the header. */
export function machineInfo(): BenchResults['machine'] {
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
  };
}

interface Metric {
  label: string;
  chartLabel: string;
  value: (m: NonNullable<DataPathResult['median']>) => number | undefined;
  digits: number;
  higherIsBetter: boolean;
}

const MiB = 2 ** 20;
const METRICS: Metric[] = [
  {
    label: 'download, upstream → client, 1 connection (MiB/s)',
    chartLabel: 'download, 1 conn',
    value: (m) => m.download1BytesPerSec / MiB,
    digits: 0,
    higherIsBetter: true,
  },
  {
    label: 'download, 8 connections (MiB/s)',
    chartLabel: 'download, 8 conns',
    value: (m) => m.download8BytesPerSec / MiB,
    digits: 0,
    higherIsBetter: true,
  },
  {
    label: 'upload, client → upstream, 1 connection (MiB/s)',
    chartLabel: 'upload, 1 conn',
    value: (m) => m.upload1BytesPerSec / MiB,
    digits: 0,
    higherIsBetter: true,
  },
  {
    label: 'upload, 8 connections (MiB/s)',
    chartLabel: 'upload, 8 conns',
    value: (m) => m.upload8BytesPerSec / MiB,
    digits: 0,
    higherIsBetter: true,
  },
  { label: 'round trip p50 (µs), 64 B', chartLabel: 'round trip p50', value: (m) => m.rttP50Us, digits: 0, higherIsBetter: false },
  { label: 'round trip p99 (µs), 64 B', chartLabel: 'round trip p99', value: (m) => m.rttP99Us, digits: 0, higherIsBetter: false },
  {
    label: 'new connections/s (connect, exchange, close)',
    chartLabel: 'new connections/s',
    value: (m) => m.connectionsPerSec,
    digits: 0,
    higherIsBetter: true,
  },
  {
    label: 'memory, idle process (MiB RSS)',
    chartLabel: 'memory, idle',
    value: (m) => (m.memoryBaseBytes === undefined ? undefined : m.memoryBaseBytes / MiB),
    digits: 1,
    higherIsBetter: false,
  },
  {
    label: 'memory at 1,000 idle connections (MiB)',
    chartLabel: 'memory, 1,000 idle',
    value: (m) => (m.memoryIdleBytes === undefined ? undefined : m.memoryIdleBytes / MiB),
    digits: 1,
    higherIsBetter: false,
  },
  {
    label: 'memory per idle connection (KiB)',
    chartLabel: 'memory per idle conn',
    value: (m) => (m.perIdleConnectionBytes === undefined ? undefined : m.perIdleConnectionBytes / 1024),
    digits: 1,
    higherIsBetter: false,
  },
];

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** The reference of the ratios and the chart: one event loop against one. */
const REFERENCE = 'haproxy1';

/** The data-path table: a value per contender, kubeprism's ratios to HAProxy (1 thread) and to `pipe()`. */
export function dataPathTable(results: readonly DataPathResult[]): string {
  const live = results.filter((r) => r.median);
  const get = (id: string, metric: Metric): number => {
    const m = results.find((r) => r.id === id)?.median;
    return (m && metric.value(m)) ?? NaN;
  };
  const header = ['metric', ...live.map((r) => r.label), 'kubeprism ÷ HAProxy (1 thread)', 'kubeprism ÷ pipe()'];
  const rows = METRICS.map((metric) => [
    `${metric.label} ${metric.higherIsBetter ? '↑' : '↓'}`,
    ...live.map((r) => fmt(get(r.id, metric), metric.digits)),
    ratio(get('kubeprism', metric), get(REFERENCE, metric)),
    ratio(get('kubeprism', metric), get('pipe', metric)),
  ]);
  return table(header, rows);
}

/** The failover table, kubeprism and HAProxy per fault. */
export function failoverTable(results: readonly FailoverResult[], runs: number): string {
  const header = [
    'fault',
    'proxy',
    `failed new connections (sum of ${runs})`,
    'lost in flight',
    'longest gap (ms)',
    'no more traffic after (ms)',
    'used again after (ms)',
  ];
  const rows = results.map((r) => [
    FAULT_LABELS[r.fault],
    r.proxy === 'haproxy' ? 'HAProxy' : 'kubeprism',
    String(r.failedTotal),
    String(r.samples.reduce((n, s) => n + s.inFlightLost, 0)),
    fmt(r.median.longestGapMs),
    fmt(r.median.stopMs),
    fmt(r.median.reuseMs),
  ]);
  return table(header, rows);
}

/** The control-plane table. */
export function controlPlaneTable(cp: ControlPlaneResult): string {
  const row = (label: string, median: number, samples: number[]): string[] => [label, fmt(median), samples.map((s) => fmt(s)).join(', ')];
  return table(
    ['change → effect', 'median (ms)', 'samples (ms)'],
    [
      row('config file: new KubePrism port → listener accepting on it', cp.configToListenMs, cp.samples.configToListenMs),
      row('members file: member added → in KubePrismUpstreams', cp.memberToListedMs, cp.samples.memberToListedMs),
      row('members file: member added → healthy (first readyz check)', cp.memberToHealthyMs, cp.samples.memberToHealthyMs),
      row('members file: member added → answering a new connection', cp.memberToUsedMs, cp.samples.memberToUsedMs),
    ],
  );
}

/** The chart rows: each contender's ratio to HAProxy (1 thread), oriented so that > 1 is better. */
export function chartRows(results: readonly DataPathResult[]): ChartRow[] {
  const haproxy = results.find((r) => r.id === REFERENCE)?.median;
  if (!haproxy) return [];
  return METRICS.map((metric) => ({
    metric: metric.chartLabel,
    ratios: results
      .filter((r) => r.median && metric.value(r.median) !== undefined && r.id !== REFERENCE)
      .map((r) => {
        const v = metric.value(r.median as DataPathSample) as number;
        const h = metric.value(haproxy) as number;
        return { contender: r.label, ratio: metric.higherIsBetter ? v / h : h / v };
      }),
  }));
}

/** The whole report as Markdown (what is printed, and latest.md). */
export function markdown(r: BenchResults): string {
  const m = r.machine;
  const versions = Object.entries(r.versions)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const p = r.params.dataPath;
  const f = r.params.failover;
  const parts = [
    `# kubeprism benchmark — ${r.date.slice(0, 10)}`,
    '',
    `Machine: ${m.cores} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.kernel}; Node ${m.node}; ${versions}.${r.quick ? ' **Quick run** (short, one run: indicative only).' : ''}`,
    `Every figure is the median of ${p.runs} runs (contenders interleaved, each started fresh per run); the whole benchmark took ${Math.round(r.durationSeconds)} s.`,
    '',
    '## Data path',
    '',
    dataPathTable(r.dataPath),
    '',
    `↑ higher is better, ↓ lower is better. Upstream: a Node TCP server on 127.0.0.2; load: one Node process; every proxy on 127.0.0.1, in its own process. ` +
      `Download: the upstream streams for ${p.bulkDurationMs / 1000} s after ${p.bulkWarmupMs} ms of warm-up on 1 and on ${p.parallelConnections} connections. ` +
      `Upload: the load pushes for as long into an upstream that reads everything and answers its byte count at the end (the window closes at the last answer, so every byte counted arrived). ` +
      `Round trip: ${fmt(p.rttMessages)} ping-pongs of ${p.messageBytes} bytes on one connection. New connections: ${p.cpsConcurrency} loops of connect, ${p.messageBytes}-byte exchange, close, for ${p.cpsDurationMs / 1000} s. ` +
      `Memory: the proxy's RSS (socat: summed PSS of its forked processes), idle after a few connections, and with ${fmt(p.idleConnections)} idle connections open, each the lowest reading over ${p.memorySettleMs / 1000} s (a Node heap shrinks some seconds after the process goes idle); per connection = (the difference) / ${fmt(p.idleConnections)}; every contender running at once, median of ${p.memoryRuns} rounds. ` +
      'HAProxy: TCP mode, default buffers, `check` on (TCP), with `nbthread 1` (one event loop, like kubeprism) and with its default threads (one per core); kubeprism: `kubeprism run` with `tcp` checks. Both check every second. ' +
      "`pipe()`: the smallest Node proxy (two sockets joined with `pipe()`, noDelay, its own process): Node's floor.",
    ...Object.entries(r.skipped).map(([k, v]) => `\n${k} skipped: ${v}.`),
    '',
    '## Failover',
    '',
    r.failover.length > 0 ? failoverTable(r.failover, f.runs) : '(not run)',
    '',
    `Three TLS fake API servers (127.0.0.11-13); a new HTTPS connection every ${f.streamIntervalMs} ms (given up after ${f.clientTimeoutMs} ms); the upstream that served most of the warm-up is broken for ${f.faultMs / 1000} s, then repaired. ` +
      `Both proxies check \`/readyz\` over TLS every ${f.checkIntervalMs} ms (timeout ${f.checkTimeoutMs} ms), down after one failure, up after one success; HAProxy also marks a server down on a failed connect, redispatches, and shuts sessions of a server marked down (kubeprism's defaults). ` +
      '"Failed new connections" counts requests opened after the fault that failed; "lost in flight" those already running on a killed server. "No more traffic after": for a killed upstream, until the proxy marks it down; otherwise, the last bench connection that reached it. "Used again after": from the repair to the first new connection it answers. Medians of the runs.',
    '',
    '## Control plane',
    '',
    r.controlPlane ? controlPlaneTable(r.controlPlane) : '(not run)',
    '',
    'A running `kubeprism run`: the config file (or members file) replaced by rename; the new port polled every 2 ms; the upstream list followed through the debug API watch; a new HTTPS connection every 10 ms.',
    '',
    '![data-path ratios](latest.svg)',
    '',
  ];
  return parts.join('\n');
}

/** Write latest.json, latest.md (plus the data-path work notes, when present) and latest.svg. */
export function writeResults(dir: string, r: BenchResults): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'latest.json'), `${JSON.stringify(r, null, 2)}\n`);
  const notesPath = path.join(dir, '..', 'DATA-PATH-WORK.md');
  const notes = existsSync(notesPath) ? `\n${readFileSync(notesPath, 'utf8')}` : '';
  writeFileSync(path.join(dir, 'latest.md'), markdown(r) + notes);
  const subtitle = `${r.date.slice(0, 10)} · ${r.machine.cores} × ${r.machine.cpu} · Node ${r.machine.node} · HAProxy ${r.versions.HAProxy ?? '?'} · median of ${r.params.dataPath.runs} runs`;
  writeFileSync(
    path.join(dir, 'latest.svg'),
    ratioChart(chartRows(r.dataPath), 'kubeprism data path vs HAProxy (TCP mode, 1 thread)', subtitle),
  );
}
