/**
 * The data-path contenders, each started fresh on the same upstream: direct (no proxy: the physical
 * limit), kubeprism (its own process), the `pipe()` proxy (Node's floor), HAProxy in TCP mode with one
 * thread (one event loop against one) and with its default threads, and socat (when they can be had).
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Target } from './load-generator.js';
import { startHaproxy, waitHaproxyUp, type CheckPolicy } from './haproxy.js';
import { KubeprismProcess } from './kubeprism-process.js';
import { ensureCommand } from './lib/install.js';
import { makeTempDir, pssTreeBytes, removeTempDir, rssBytes, spawnTracked, stopProcess } from './lib/processes.js';
import { sleep } from './lib/stats.js';
import { connectTo, freePort } from '../test/harness/ports.js';

/** Names of the contenders, in table order. */
export type ContenderId = 'direct' | 'kubeprism' | 'baseline' | 'pipe' | 'haproxy1' | 'haproxy' | 'socat';

/** A started contender: where the load goes, its memory, and how to stop it. */
export interface RunningContender {
  target: Target;
  /** Memory of the proxy (RSS; summed PSS for a forking proxy), undefined for direct. */
  memoryBytes(): number | undefined;
  stop(): Promise<void>;
}

/** A contender that can be started for each run, or why it is skipped. */
export interface Contender {
  id: ContenderId;
  label: string;
  /** Version string for the parameters. */
  version: string;
  /** Set when it cannot run here. */
  skipped?: string;
  start(upstream: Target): Promise<RunningContender>;
}

/** Health checks on the data-path runs: plain TCP (the upstream speaks no TLS), once a second. */
export const DATA_PATH_CHECK: CheckPolicy = { mode: 'tcp', intervalMs: 1_000, timeoutMs: 500 };

async function waitConnectable(target: Target, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      (await connectTo(target.host, target.port)).destroy();
      return;
    } catch (err) {
      if (performance.now() > deadline)
        throw new Error(`${target.host}:${target.port} not accepting after ${timeoutMs} ms: ${(err as Error).message}`);
      await sleep(25);
    }
  }
}

/** The first line `child` prints on stdout (the pipe() proxy's bound port). */
function firstLine(child: ChildProcess, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no output after ${timeoutMs} ms`)), timeoutMs);
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const newline = out.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      resolve(out.slice(0, newline));
    });
    child.once('exit', (code) => reject(new Error(`exited (${code}) before it listened`)));
  });
}

/** The first line of `command args` output that matches `pattern` (version banners differ in layout). */
function versionLine(command: string, args: string[], pattern: RegExp): string {
  const out = spawnSync(command, args, { encoding: 'utf8' });
  const match = `${out.stdout}${out.stderr}`.split('\n').find((l) => pattern.test(l));
  return match?.match(pattern)?.[0] ?? '?';
}

/** Every contender, with the peers installed when missing (or marked skipped with the reason). */
export function dataPathContenders(log: (line: string) => void, options: { profileDir?: string; baseline?: string } = {}): Contender[] {
  const kubeprism = (id: 'kubeprism' | 'baseline', label: string, bin?: string): Contender => ({
    id,
    label,
    version: `${process.version} (kubeprism run)`,
    start: async (upstream) => {
      const dir = makeTempDir(id);
      const port = await freePort('127.0.0.1');
      const kp = await KubeprismProcess.start(dir, {
        port,
        endpoint: upstream,
        members: [],
        check: DATA_PATH_CHECK,
        ...(options.profileDir && !bin ? { profileDir: options.profileDir } : {}),
        ...(bin ? { bin } : {}),
      });
      return {
        target: { host: '127.0.0.1', port },
        memoryBytes: () => rssBytes(kp.pid),
        stop: async () => {
          await kp.stop();
          removeTempDir(dir);
        },
      };
    },
  });
  const contenders: Contender[] = [
    {
      id: 'direct',
      label: 'direct',
      version: '-',
      start: async (upstream) => ({ target: upstream, memoryBytes: () => undefined, stop: async () => undefined }),
    },
    kubeprism('kubeprism', 'kubeprism'),
    ...(options.baseline ? [kubeprism('baseline', 'baseline', path.join(options.baseline, 'bin', 'kubeprism.js'))] : []),
  ];

  contenders.push({
    id: 'pipe',
    label: 'pipe()',
    version: `${process.version} (two sockets joined with pipe())`,
    start: async (upstream) => {
      const script = path.join(import.meta.dirname, 'pipe-proxy.js');
      const child = spawnTracked(process.execPath, [script, '127.0.0.1', upstream.host, String(upstream.port)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const port = Number(await firstLine(child));
      return { target: { host: '127.0.0.1', port }, memoryBytes: () => rssBytes(child.pid as number), stop: () => stopProcess(child) };
    },
  });

  const haproxy = ensureCommand('haproxy', 'haproxy', log);
  const haproxyPath = 'path' in haproxy ? haproxy.path : undefined;
  const haproxyVersion = haproxyPath ? versionLine(haproxyPath, ['-v'], /HAProxy version \S+/) : '-';
  // nbthread 1: one event loop against kubeprism's one; default: as HAProxy ships (a thread per core).
  for (const [id, label, threads] of [
    ['haproxy1', 'HAProxy (1 thread)', 1],
    ['haproxy', 'HAProxy', undefined],
  ] as const) {
    contenders.push({
      id,
      label,
      version: haproxyVersion,
      ...('missing' in haproxy ? { skipped: haproxy.missing } : {}),
      start: async (upstream) => {
        const dir = makeTempDir(id);
        const listen = { host: '127.0.0.1', port: await freePort('127.0.0.1') };
        const { child, statsSocket } = startHaproxy(haproxyPath as string, dir, listen, [upstream], DATA_PATH_CHECK, threads);
        await waitHaproxyUp(child, statsSocket, 1);
        return {
          target: listen,
          memoryBytes: () => rssBytes(child.pid as number),
          stop: async () => {
            await stopProcess(child);
            removeTempDir(dir);
          },
        };
      },
    });
  }

  const socat = ensureCommand('socat', 'socat', log);
  const socatPath = 'path' in socat ? socat.path : undefined;
  contenders.push({
    id: 'socat',
    label: 'socat',
    version: socatPath ? versionLine(socatPath, ['-V'], /socat version \S+/) : '-',
    ...('missing' in socat ? { skipped: socat.missing } : {}),
    start: async (upstream) => {
      const listen = { host: '127.0.0.1', port: await freePort('127.0.0.1') };
      // fork: one process per connection, the way socat is used as a port forwarder.
      const child = spawnTracked(
        socatPath as string,
        [
          `TCP-LISTEN:${listen.port},bind=${listen.host},fork,reuseaddr,backlog=4096,nodelay`,
          `TCP:${upstream.host}:${upstream.port},nodelay`,
        ],
        { stdio: 'ignore', group: true },
      );
      await waitConnectable(listen);
      return {
        target: listen,
        memoryBytes: () => pssTreeBytes(child.pid as number),
        stop: () => stopProcess(child),
      };
    },
  });
  return contenders;
}
