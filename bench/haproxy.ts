/** HAProxy in TCP mode as a contender: its config (equivalent to kubeprism's settings), process and stats. */
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import type { Target } from './load-generator.js';
import { spawnTracked } from './lib/processes.js';
import { sleep } from './lib/stats.js';
import type { ChildProcess } from 'node:child_process';

/** Health checks as both proxies are told to run them. */
export interface CheckPolicy {
  mode: 'tcp' | 'readyz';
  intervalMs: number;
  timeoutMs: number;
}

/**
 * The config: loopback bind, the same upstreams, fewest-connections balancing like kubeprism, the same
 * check rule (down after one failure, up after one success, a failed dial marks down at once), a failed
 * dial redispatched to another server, connections to a server that goes down shut, TCP keepalive both
 * ways, and no idle timeout worth speaking of (kubeprism has none).
 */
export function haproxyConfig(
  listen: Target,
  upstreams: readonly Target[],
  check: CheckPolicy,
  statsSocket: string,
  threads?: number,
): string {
  const httpCheck = check.mode === 'readyz' ? ['  option httpchk GET /readyz', '  http-check expect rstatus ^(2[0-9][0-9]|401|403)$'] : [];
  const ssl = check.mode === 'readyz' ? ' check-ssl verify none' : '';
  return [
    'global',
    '  maxconn 8192', // kubeprism's default connection limit
    ...(threads !== undefined ? [`  nbthread ${threads}`] : []),
    `  stats socket ${statsSocket} mode 600 level admin`,
    'defaults',
    '  mode tcp',
    '  option tcpka',
    '  timeout connect 3s',
    '  timeout client 1h',
    '  timeout server 1h',
    `  timeout check ${check.timeoutMs}ms`,
    '  retries 3',
    '  option redispatch 1',
    'frontend kubeprism_bench',
    `  bind ${listen.host}:${listen.port}`,
    '  default_backend apiservers',
    'backend apiservers',
    '  balance leastconn',
    ...httpCheck,
    `  default-server check${ssl} inter ${check.intervalMs}ms fall 1 rise 1 observe layer4 error-limit 1 on-error mark-down on-marked-down shutdown-sessions`,
    ...upstreams.map((u, i) => `  server s${i + 1} ${u.host}:${u.port}`),
    '',
  ].join('\n');
}

/** Start `haproxy -db` (foreground, one process) with a config written into `dir`; `threads`: nbthread (default: HAProxy's). */
export function startHaproxy(
  binary: string,
  dir: string,
  listen: Target,
  upstreams: readonly Target[],
  check: CheckPolicy,
  threads?: number,
): { child: ChildProcess; statsSocket: string } {
  const statsSocket = path.join(dir, 'haproxy.sock');
  const configPath = path.join(dir, 'haproxy.cfg');
  writeFileSync(configPath, haproxyConfig(listen, upstreams, check, statsSocket, threads));
  const child = spawnTracked(binary, ['-db', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    if (/\[ALERT\]/.test(s)) process.stderr.write(`haproxy: ${s}`);
  });
  return { child, statsSocket };
}

/** Run one stats-socket command and return its answer. */
export function haproxyCommand(statsSocket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(statsSocket);
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (s: string) => (out += s));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
    socket.write(`${command}\n`);
  });
}

/** Status (`UP`, `DOWN`, …) of every server of the backend, by `host:port`. */
export async function haproxyServerStatus(statsSocket: string): Promise<Map<string, string>> {
  const csv = await haproxyCommand(statsSocket, 'show stat');
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').replace(/^# /, '').split(',');
  const col = (name: string): number => header.indexOf(name);
  const result = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    if (f[col('svname')] === 'FRONTEND' || f[col('svname')] === 'BACKEND') continue;
    const addr = f[col('addr')];
    if (addr) result.set(addr, (f[col('status')] ?? '').split(' ')[0] ?? '');
  }
  return result;
}

/** Wait until every server is UP (stats socket polled), or throw after `timeoutMs`. */
export async function waitHaproxyUp(child: ChildProcess, statsSocket: string, count: number, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = '';
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}) before its servers were UP`);
    try {
      const status = await haproxyServerStatus(statsSocket);
      last = JSON.stringify([...status]);
      if (status.size === count && [...status.values()].every((s) => s === 'UP')) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(50);
  }
  throw new Error(`haproxy servers not all UP after ${timeoutMs} ms: ${last}`);
}
