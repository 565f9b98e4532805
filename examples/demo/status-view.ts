import { tierLabel } from '../../src/loadbalancer/index.js';
import { KUBEPRISM_STATUS_ID, KubePrismStatusType, KubePrismUpstreamType, type KubePrismEndpoint } from '../../src/resources/index.js';
import { kindOf, ptr, type SpecOf, type State } from '../../src/runtime/index.js';

/** A demo upstream: which key toggles it and what it is called. */
export interface DemoServer {
  readonly key: string;
  readonly label: string;
  readonly address: string;
  readonly running: boolean;
}

/** What the demo client saw through KubePrism. */
export interface DemoTraffic {
  readonly ok: number;
  readonly failed: number;
  readonly lastAnswer: string;
}

/** The resources the screen shows (the same ones `kubeprism get kps`, `get kpu` and `get kpe` show). */
export interface DemoStatus {
  readonly status: SpecOf<typeof KubePrismStatusType> | undefined;
  readonly upstreams: ReadonlyArray<{ readonly id: string; readonly spec: SpecOf<typeof KubePrismUpstreamType> }>;
  readonly endpoints: readonly KubePrismEndpoint[];
}

/** Reads the status, upstreams and endpoints from the state. */
export async function readDemoStatus(state: State, endpoints: readonly KubePrismEndpoint[]): Promise<DemoStatus> {
  const status = await state.find(ptr(KubePrismStatusType, KUBEPRISM_STATUS_ID));
  const upstreams = await state.list(kindOf(KubePrismUpstreamType));
  return { status: status?.spec, upstreams: upstreams.map((u) => ({ id: u.metadata.id, spec: u.spec })), endpoints };
}

const bold = (s: string): string => `\x1b[1m${s}\x1b[22m`;
const green = (s: string): string => `\x1b[32m${s}\x1b[39m`;
const red = (s: string): string => `\x1b[31m${s}\x1b[39m`;
const dim = (s: string): string => `\x1b[2m${s}\x1b[22m`;

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** The width a line takes on the terminal (colour codes take none). */
export function visibleLength(text: string): number {
  return [...text.replace(ANSI, '')].length;
}

function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - visibleLength(text)));
}

/** Cuts a line to `width` terminal columns, ending in `…` when cut (colour reset, so nothing bleeds). */
export function fit(text: string, width: number): string {
  if (visibleLength(text) <= width) return text;
  let out = '';
  let shown = 0;
  for (let i = 0; i < text.length && shown < width - 1;) {
    ANSI.lastIndex = i;
    const code = ANSI.exec(text);
    if (code && code.index === i) {
      out += code[0];
      i += code[0].length;
      continue;
    }
    const ch = String.fromCodePoint(text.codePointAt(i)!);
    out += ch;
    i += ch.length;
    shown++;
  }
  return `${out}…\x1b[0m`;
}

const SOURCES: Readonly<Record<string, string>> = { clusterEndpoint: 'endpoint', localAPIServer: 'local', member: 'member' };

// KEY SERVER UPSTREAM SOURCE HEALTH TIER LATENCY SCORE CONNS: 69 columns and 8 spaces, within 80.
const HEADER = ['KEY', 'SERVER', 'UPSTREAM', 'SOURCE', 'HEALTH', 'TIER', 'LATENCY', 'SCORE', 'CONNS'];
const WIDTHS = [3, 11, 16, 8, 7, 6, 8, 5, 5];

function row(cells: readonly string[]): string {
  return cells.map((cell, i) => (i === cells.length - 1 ? cell : pad(fit(cell, WIDTHS[i] ?? 0), WIDTHS[i] ?? 0))).join(' ');
}

/**
 * Renders the live status screen, every line within `width` terminal columns: the balancer's state,
 * one row per upstream, the upstreams' last errors and stopped servers below it, and the demo traffic.
 */
export function formatStatus(
  data: DemoStatus,
  servers: readonly DemoServer[],
  traffic: DemoTraffic,
  options: { color: boolean; width: number },
): string {
  const paint = (f: (s: string) => string, s: string): string => (options.color ? f(s) : s);
  const lines: string[] = [];
  lines.push(paint(bold, 'kubeprism demo') + ' - a node-local Kubernetes API load balancer, live');
  lines.push('');
  const { status } = data;
  if (!status) {
    lines.push('KubePrism: starting...');
  } else {
    const listening = status.listening ? paint(green, 'listening') : paint(red, 'not listening');
    const healthy = status.healthy ? paint(green, 'healthy') : paint(red, 'no healthy upstream');
    lines.push(`KubePrism ${paint(bold, status.host)}: ${listening}, ${healthy}`);
    if (status.error) lines.push(paint(red, `  ${status.error}`));
  }
  lines.push('');
  lines.push(paint(dim, row(HEADER)));
  const errors: string[] = [];
  for (const u of data.upstreams) {
    const server = servers.find((s) => s.address === u.id);
    const source = data.endpoints.find((e) => e.port === u.spec.port && e.host === u.spec.host)?.source ?? '';
    const measured = u.spec.latencyMs !== undefined;
    lines.push(
      row([
        server?.key ?? '',
        server?.label ?? '',
        u.id,
        SOURCES[source] ?? source,
        u.spec.healthy ? paint(green, 'healthy') : paint(red, 'down'),
        measured ? tierLabel(u.spec.tier) : '-',
        measured ? `${u.spec.latencyMs!.toFixed(1)} ms` : '-',
        String(u.spec.score),
        String(u.spec.activeConnections),
      ]),
    );
    if (u.spec.lastError) errors.push(`  ${server?.label ?? u.id}: ${u.spec.lastError}`);
  }
  if (errors.length > 0) lines.push(paint(dim, 'Last errors:'), ...errors.map((e) => paint(dim, e)));
  const stopped = servers.filter((s) => !s.running);
  if (stopped.length > 0) lines.push(`Stopped: ${stopped.map((s) => `${s.label} (key ${s.key})`).join(', ')}`);
  lines.push('');
  lines.push(
    `Client via KubePrism: ${traffic.ok} ok, ${traffic.failed} failed; last answer from ${paint(bold, traffic.lastAnswer || '-')}`,
  );
  return lines.map((line) => fit(line, options.width)).join('\n');
}
