/** The fleet simulator's report: Markdown (printed and written), JSON and the SVG chart. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fmt } from '../lib/stats.js';
import type { machineInfo } from '../report.js';
import { IMBALANCE_LIMIT, SHARE_BINS_S, type Peak } from './analysis.js';
import type { Side, SideOptions } from './behaviours.js';
import { fleetChart, type ChartRowSpec } from './chart.js';
import { FLEET_SIZES, type ScaleRow } from './scale.js';
import { ROLLING_PAUSE_MS, SCENARIOS, type FleetParams } from './scenarios.js';
import { worstHealth, type Burst, type RunSummary } from './summary.js';

/** Everything one `npm run bench:fleet` produced. */
export interface FleetResults {
  date: string;
  machine: ReturnType<typeof machineInfo>;
  durationSeconds: number;
  params: FleetParams;
  /** The balancer's health-check settings the agents ran with (its defaults). */
  healthCheck: { mode: string; intervalMs: number; timeoutMs: number; jitter: number };
  sides: Record<Side, SideOptions>;
  runs: RunSummary[];
  scaling: ScaleRow[];
}

const SIDES: Side[] = ['off', 'on'];

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

const seconds = (ms: number | null | undefined): string => (ms === undefined || ms === null ? 'never' : `${(ms / 1000).toFixed(1)} s`);
const ratioText = (v: number): string => (v === Infinity ? '∞' : Number.isFinite(v) ? v.toFixed(2) : '—');
const pct = (v: number): string => (Number.isFinite(v) ? `${Math.round(v * 100)} %` : '—');
const peakText = (p: Peak): string => `${p.value}`;
const burstText = (b: Burst): string =>
  `${peakText(b.all)} / ${peakText(b.client)}; ${fmt(b.clientPerSecond)}/s; ${fmt(b.clientTotal)} in all`;

/** One scenario's table: a row per figure, a column per side. */
function scenarioTable(runs: readonly RunSummary[], sides: Record<Side, SideOptions>): string {
  const bySide = SIDES.map((side) => runs.find((r) => r.side === side));
  const cells = (f: (r: RunSummary) => string): string[] =>
    bySide.map((r, i) => (r ? f(r) : sides[SIDES[i] as Side].available ? 'not run' : 'not available'));
  const ref = bySide.find((r) => r !== undefined);
  if (!ref) return '(not run)';
  const rows: string[][] = [
    ['peak handshakes per 100 ms, any server (all / clients only)', ...cells((r) => `${r.peakAll.value} / ${r.peakClient.value}`)],
  ];
  ref.leaving.forEach((l, i) => {
    const label = l.kind === 'kill' ? `kill burst, ${l.server} killed` : `leaving ${l.server} (/readyz 500)`;
    rows.push([
      `${label}: peak per 100 ms (all / clients); busiest second; total`,
      ...cells((r) => burstText((r.leaving[i] as typeof l).burst)),
    ]);
  });
  ref.returning.forEach((t, i) => {
    rows.push([
      `wave onto ${t.server} when it returns (60 s, or until the next kill): peak per 100 ms (all / clients); busiest second; total`,
      ...cells((r) => burstText((r.returning[i] as typeof t).burst)),
    ]);
  });
  ref.leave.forEach((l, i) => {
    rows.push([
      `time to leave ${l.server} (≤ 1 % / none left)`,
      ...cells((r) => {
        const x = r.leave[i] as typeof l;
        return `${seconds(x.toOnePercentMs)} / ${seconds(x.toZeroMs)} (of ${x.openBefore})`;
      }),
    ]);
  });
  rows.push(
    [
      'failed client requests from the fault on [by cause] (retried on a new connection) of all',
      ...cells((r) => {
        const causes = Object.entries(r.requests.failedByReason).map(([k, v]) => `${k} ${fmt(v)}`);
        return `${fmt(r.requests.failed)}${causes.length > 0 ? ` [${causes.join(', ')}]` : ''} (${fmt(r.requests.retried)}) of ${fmt(r.requests.total)}`;
      }),
    ],
    [
      'balancers, from the fault on: connections moved to another server before its first answer / given up (no server reachable)',
      ...cells((r) => `${fmt(r.proxy.retried)} / ${fmt(r.proxy.failed)}`),
    ],
    [
      'imbalance before the fault; when the last server returned → at the end',
      ...cells(
        (r) => `${ratioText(r.imbalance.before)}; ${ratioText(r.imbalance.samples[0]?.value ?? NaN)} → ${ratioText(r.imbalance.end)}`,
      ),
    ],
    [`imbalance stays ≤ ${IMBALANCE_LIMIT} after (from the last server's return)`, ...cells((r) => seconds(r.imbalance.settleMs))],
    [
      'client connections open at the fault (clients / servers) → at the end (clients)',
      ...cells((r) => `${fmt(r.connectedAtFault)} / ${fmt(r.connectionsBefore)} → ${fmt(r.connectedAtEnd)}`),
    ],
    [
      'warm-up: length; failed requests; connections moved before their first answer',
      ...cells((r) => `${fmt(r.warmup.ms / 1000)} s; ${fmt(r.warmup.failed)}; ${fmt(r.warmup.proxyRetried)}`),
    ],
  );
  return table(['figure', 'behaviours off', 'behaviours on'], rows);
}

function imbalanceTable(runs: readonly RunSummary[]): string {
  const afters = [...new Set(runs.flatMap((r) => r.imbalance.samples.map((s) => s.afterS)))].sort((a, b) => a - b);
  return table(
    ['scenario', 'side', ...afters.map((s) => `+${s} s`), `stays ≤ ${IMBALANCE_LIMIT} after`],
    runs.map((r) => [
      r.scenario,
      r.side,
      ...afters.map((s) => ratioText(r.imbalance.samples.find((x) => x.afterS === s)?.value ?? NaN)),
      seconds(r.imbalance.settleMs),
    ]),
  );
}

function rampTable(runs: readonly RunSummary[]): string {
  return table(
    ['scenario', 'side', 'returned server', ...SHARE_BINS_S.map(([a, b]) => `${a}-${b} s`)],
    runs.flatMap((r) =>
      r.returning.map((t) => [
        r.scenario,
        r.side,
        t.server,
        ...SHARE_BINS_S.map(([a]) => {
          const bin = t.ramp.find((x) => x.fromS === a);
          return bin ? `${pct(bin.share)} (${bin.onServer}/${bin.all})` : '—';
        }),
      ]),
    ),
  );
}

function scaleTable(rows: readonly ScaleRow[], agents: number): string {
  return table(
    ['figure', 'unit', `measured (${agents} agents)`, 'per agent', ...FLEET_SIZES.map((n) => `${fmt(n)} nodes`)],
    rows.map((r) => [r.what, r.unit, fmt(r.measured, 1), fmt(r.perAgent, 3), ...FLEET_SIZES.map((n) => fmt(r.projected[n] ?? NaN))]),
  );
}

function healthTable(runs: readonly RunSummary[]): string {
  return table(
    [
      'scenario',
      'side',
      'agent workers: lag p50 / p99 / max (ms)',
      'CPU (% of a core, worst worker)',
      'RSS (MiB, worst)',
      'API servers: lag p99 / max (ms), CPU (worst)',
    ],
    runs.map((r) => {
      const a = worstHealth(r.health.agentWorkers);
      const s = worstHealth(r.health.servers);
      return [
        r.scenario,
        r.side,
        `${fmt(a.lagP50Ms, 1)} / ${fmt(a.lagP99Ms, 1)} / ${fmt(a.lagMaxMs)}`,
        fmt(a.cpuPercent),
        fmt(a.rssMiB),
        `${fmt(s.lagP99Ms, 1)} / ${fmt(s.lagMaxMs)}, ${fmt(s.cpuPercent)} %`,
      ];
    }),
  );
}

/** The whole report as Markdown. */
export function fleetMarkdown(r: FleetResults): string {
  const m = r.machine;
  const p = r.params;
  const hc = r.healthCheck;
  const parts = [
    `# kubeprism fleet simulator — ${r.date.slice(0, 10)}`,
    '',
    `Machine: ${m.cores} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.kernel}; Node ${m.node}.${p.quick ? ' **Quick run** (fewer agents, shorter observation: indicative only).' : ''} The whole run took ${Math.round(r.durationSeconds / 60)} min.`,
    '',
    `${fmt(p.agents)} agents (real \`LoadBalancer\`s, ${p.workers} worker processes) each with ${p.connectionsPerAgent} long-lived TLS client connections, ` +
      `one request every ${p.requestGapMs[0] / 1000}-${p.requestGapMs[1] / 1000} s per connection (uniform; timeout ${p.requestTimeoutMs / 1000} s; ` +
      `a request that fails on a reused connection before any response byte is retried once on a new one, as Go's net/http does), ` +
      `in front of 3 fake API servers (${p.servers.join(', ')}, a process each; \`/readyz\` answers after ${p.readyzDelayMs} ms, which keeps all three in one latency tier whatever the simulator's load). Health checks: the balancer's defaults, ` +
      `\`${hc.mode}\` every ${hc.intervalMs / 1000} s ± ${Math.round(hc.jitter * 100)} % (timeout ${hc.timeoutMs / 1000} s). ` +
      `Agents start at random moments within ${p.staggerMs / 1000} s (so their checks are out of phase, as in a real fleet), their clients connect within ${p.connectSpreadMs / 1000} s after that; ` +
      `the fault comes ${p.warmupMs / 1000} s after the first start (later if some client is not connected yet, by up to a minute); observation lasts ${p.observeMs / 1000} s after the last server is back. ` +
      `Rolling restart: kill, restart after ${ROLLING_PAUSE_MS / 1000} s. A broken connection is re-established by its next request ` +
      "(client-go's watches come back within about a second, so a real fleet's kill burst is sharper than the one measured here).",
    '',
    ...SIDES.map((side) => {
      const s = r.sides[side];
      if (!s.available) return `- behaviours ${side}: ${s.reason}`;
      return `- behaviours ${side}: \`${JSON.stringify(s.options)}\`${s.note ? ` (${s.note})` : ''}`;
    }),
    '',
    '"Handshakes" are TLS handshakes the API servers completed: "all" includes the balancers\' health checks, "clients" only the fleet clients\' new connections. ' +
      "Imbalance: most over least loaded server's open client connections, among servers in service (∞: one holds none). " +
      'Sampled every 100 ms; "busiest second" is the largest count in a sliding 1-s window.',
    '',
  ];
  for (const id of p.scenarios) {
    const runs = r.runs.filter((x) => x.scenario === id);
    parts.push(`## ${SCENARIOS[id].title}`, '', scenarioTable(runs, r.sides), '');
  }
  parts.push(
    '## Imbalance over time (after the last server is back)',
    '',
    imbalanceTable(r.runs),
    '',
    "## A returned server's share of new client connections (new on it / new on all)",
    '',
    rampTable(r.runs),
    '',
    '## What 1,000 and 5,000 nodes would see',
    '',
    `Each agent acts on its own jittered clocks, so a rate is a sum over agents: projected = measured ÷ ${p.agents} agents × nodes (per agent × nodes). ` +
      'For 100-ms peaks that is an upper bound (independent bursts add up, and peaks flatten relative to the mean as the fleet grows). ' +
      'Health checks: each agent checks each server once per interval, so a server sees nodes ÷ interval handshakes per second from them.',
    '',
    scaleTable(r.scaling, p.agents),
    '',
    '## The simulator itself',
    '',
    'Event-loop lag beyond the 10-ms sampling resolution; when the lag stays far below a health-check timeout and a request gap, the simulator did not distort the fleet.',
    '',
    healthTable(r.runs),
    '',
    '![open connections per server over time, off and on](fleet.svg)',
    '',
  );
  return parts.join('\n');
}

/** The chart rows: one per scenario, off and on side by side. */
function chartRows(r: FleetResults): ChartRowSpec[] {
  return r.params.scenarios.map((id) => ({
    title: SCENARIOS[id].title,
    cells: SIDES.map((side) => {
      const run = r.runs.find((x) => x.scenario === id && x.side === side);
      const s = r.sides[side];
      return run
        ? { label: `behaviours ${side}`, run }
        : { label: `behaviours ${side}`, missing: s.available ? 'not run' : 'not available in this build' };
    }),
  }));
}

/** JSON has no ∞ or NaN (imbalance uses both): they are written as strings and read back as numbers. */
const NON_FINITE = new Set(['Infinity', '-Infinity', 'NaN']);

/** Write fleet.json, fleet.md and fleet.svg into `dir`. */
export function writeFleetResults(dir: string, r: FleetResults): void {
  mkdirSync(dir, { recursive: true });
  const json = JSON.stringify(r, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 1);
  writeFileSync(path.join(dir, 'fleet.json'), `${json}\n`);
  renderFleetResults(dir, r);
}

/** Read a fleet.json written by {@link writeFleetResults}. */
export function readFleetResults(file: string): FleetResults {
  return JSON.parse(readFileSync(file, 'utf8'), (_key, v: unknown) =>
    typeof v === 'string' && NON_FINITE.has(v) ? Number(v) : v,
  ) as FleetResults;
}

/** Write fleet.md and fleet.svg into `dir` (from a run, or from fleet.json again). */
export function renderFleetResults(dir: string, r: FleetResults): void {
  writeFileSync(path.join(dir, 'fleet.md'), fleetMarkdown(r));
  const subtitle = `${r.date.slice(0, 10)} · ${r.machine.cores} × ${r.machine.cpu} · Node ${r.machine.node} · ${r.params.agents} agents × ${r.params.connectionsPerAgent} connections${r.params.quick ? ' · quick run' : ''}`;
  writeFileSync(path.join(dir, 'fleet.svg'), fleetChart(chartRows(r), 'kubeprism fleet: open client connections per API server', subtitle));
}
