import { tierLabel } from '../../src/loadbalancer/index.js';
import { KUBEPRISM_STATUS_ID, KubePrismStatusType, KubePrismUpstreamType, type KubePrismEndpoint } from '../../src/resources/index.js';
import { kindOf, ptr, type State } from '../../src/runtime/index.js';

/** A demo upstream: which key toggles it and what it is called. */
export interface DemoServer {
  readonly key: string;
  readonly label: string;
  readonly address: string;
  readonly running: boolean;
}

const bold = (s: string): string => `\x1b[1m${s}\x1b[22m`;
const green = (s: string): string => `\x1b[32m${s}\x1b[39m`;
const red = (s: string): string => `\x1b[31m${s}\x1b[39m`;
const dim = (s: string): string => `\x1b[2m${s}\x1b[22m`;

function pad(text: string, width: number): string {
  // eslint-disable-next-line no-control-regex
  const visible = text.replace(/\x1b\[[0-9;]*m/g, '').length;
  return text + ' '.repeat(Math.max(0, width - visible));
}

/** Renders the live status screen from the resources (the same ones `kubeprism get` shows). */
export async function renderStatus(
  state: State,
  servers: readonly DemoServer[],
  endpoints: readonly KubePrismEndpoint[],
  traffic: { ok: number; failed: number; lastAnswer: string },
  color: boolean,
): Promise<string> {
  const paint = (f: (s: string) => string, s: string): string => (color ? f(s) : s);
  const status = await state.find(ptr(KubePrismStatusType, KUBEPRISM_STATUS_ID));
  const upstreams = await state.list(kindOf(KubePrismUpstreamType));
  const lines: string[] = [];
  lines.push(paint(bold, 'kubeprism demo') + '  — a node-local Kubernetes API load balancer, live');
  lines.push('');
  if (!status) {
    lines.push('KubePrism: starting…');
  } else {
    const listening = status.spec.listening ? paint(green, 'listening') : paint(red, 'not listening');
    const healthy = status.spec.healthy ? paint(green, 'healthy') : paint(red, 'no healthy upstream');
    lines.push(
      `KubePrism ${paint(bold, status.spec.host)}: ${listening}, ${healthy}${status.spec.error ? paint(red, `  (${status.spec.error})`) : ''}`,
    );
  }
  lines.push('');
  const header = ['KEY', 'SERVER', 'UPSTREAM', 'SOURCE', 'HEALTH', 'TIER', 'LATENCY', 'SCORE', 'CONNS', 'LAST ERROR'];
  const widths = [4, 14, 22, 16, 10, 8, 10, 6, 6, 0];
  lines.push(paint(dim, header.map((h, i) => pad(h, widths[i] ?? 0)).join(' ')));
  for (const u of upstreams) {
    const server = servers.find((s) => s.address === u.metadata.id);
    const source = endpoints.find((e) => e.port === u.spec.port && e.host === u.spec.host)?.source ?? '';
    const health = u.spec.healthy ? paint(green, 'healthy') : paint(red, 'down');
    const row = [
      server?.key ?? '',
      server ? `${server.label}${server.running ? '' : ' (stopped)'}` : '',
      u.metadata.id,
      source,
      health,
      u.spec.latencyMs === undefined ? '-' : tierLabel(u.spec.tier),
      u.spec.latencyMs === undefined ? '-' : `${u.spec.latencyMs.toFixed(1)} ms`,
      String(u.spec.score),
      String(u.spec.activeConnections),
      u.spec.lastError ?? '',
    ];
    lines.push(row.map((cell, i) => pad(cell, widths[i] ?? 0)).join(' '));
  }
  lines.push('');
  lines.push(
    `Demo client via KubePrism: ${traffic.ok} requests ok, ${traffic.failed} failed; newest connection answered by ${paint(bold, traffic.lastAnswer || '-')}`,
  );
  return lines.join('\n');
}
