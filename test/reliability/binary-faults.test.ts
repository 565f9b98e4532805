import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePersisted } from '../../src/agent/config-store.js';
import { call } from '../api/helpers.js';
import { assertBuilt, Spawned } from '../e2e/process.js';
import { PatternVerifier, writePattern } from '../harness/pattern.js';
import { connectTo, fixedPort, loopback, randomLoopback } from '../harness/ports.js';
import { readLine, TcpTestServer } from '../harness/tcp-server.js';
import { balancedConfig, LIVE_TYPES, metricValue, type ResourceSnapshot } from './fixture.js';

// Faults against the built binary, `kubeprism run`, as an operator runs it (one process for the whole
// file: each spawn costs a Node start-up). Its only upstream is a plain TCP server (tcp checks every
// 200 ms) that answers `hello` with its name and `stream <id> <bytes>` with pattern data. Cases run in order.

let dir: string;
let agent: Spawned;
let base: string;
let kubePrismPort: number;
let upstream: TcpTestServer;
let configPath: string;
let generation = 0;
/** The upstream's side of each `stream` request, by stream id: how far its writer got. */
const streamSockets = new Map<number, Socket>();

/** The config in force in these tests; each call makes a new one (another cluster name), same port and upstream. */
function nextConfig(): string {
  generation++;
  return balancedConfig({
    port: kubePrismPort,
    endpoint: upstream.endpoint,
    mode: 'tcp',
    intervalMs: 200,
    timeoutMs: 150,
    clusterName: `reliability-${generation}`,
  });
}

/** Polls the API until `check` holds (the agent is another process: no in-memory events to wait on). */
async function until<T>(check: () => Promise<T | undefined | false>, description: string, timeoutMs = 10_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (performance.now() > deadline || !agent.running)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}\n${agent.stdout.slice(-1500)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface ApiResource {
  metadata: { namespace: string; type: string; id: string; version: number };
  spec: Record<string, unknown>;
}

async function get<T = ApiResource>(route: string): Promise<T> {
  const res = await call(base, 'GET', route);
  expect(res.status, `GET ${route}: ${res.text}`).toBe(200);
  return res.json() as T;
}

/** Every resource that follows the config (not live health, not the config status) as the API shows it. */
async function configDerived(): Promise<ResourceSnapshot> {
  const out: Record<string, { version: number; spec: unknown }> = {};
  for (const r of await get<ApiResource[]>('/v1/resources')) {
    if (LIVE_TYPES.includes(r.metadata.type) || r.metadata.type.startsWith('MachineConfigStatuses.')) continue;
    out[`${r.metadata.namespace}/${r.metadata.type}/${r.metadata.id}`] = { version: r.metadata.version, spec: r.spec };
  }
  return out;
}

const mcs = async (): Promise<Record<string, unknown>> => (await get('/v1/resources/mcs/v1alpha1')).spec;

/** Log lines (JSON) written by the agent after line `from`. */
function logsSince(from: number, msg: string): Array<Record<string, unknown>> {
  return agent
    .logs()
    .slice(from)
    .filter((l) => l.msg === msg);
}

/** One request through the balancer: the upstream's name. */
async function hello(): Promise<string> {
  const socket = await connectTo('127.0.0.1', kubePrismPort);
  try {
    socket.write('hello\n');
    return await readLine(socket);
  } finally {
    socket.destroy();
  }
}

/** Kilobytes of resident memory of a process (Linux). */
async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
}

beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-reliability-bin-'));
  upstream = await TcpTestServer.start({
    name: 'streamer',
    host: loopback(12),
    handler: (socket: Socket, server) => {
      socket.on('error', () => socket.destroy());
      // Health checks connect and leave without a word; clients say what they want on the first line.
      readLine(socket).then(
        (line) => {
          const [command, id, bytes] = line.split(' ');
          if (command !== 'stream') return void socket.end(`${server.name}\n`);
          streamSockets.set(Number(id), socket);
          writePattern(socket, Number(id), Number(bytes)).then(
            () => socket.end(),
            () => socket.destroy(),
          );
        },
        () => socket.destroy(),
      );
    },
  });
  kubePrismPort = await fixedPort();
  const apiHost = randomLoopback(); // the child's API address, told in advance: an address of its own
  base = `http://${apiHost}:${await fixedPort(apiHost)}`;
  configPath = path.join(dir, 'config.yaml');
  await writeFile(configPath, nextConfig());
  agent = new Spawned([
    'run',
    '--config',
    configPath,
    '--api',
    base.slice('http://'.length),
    '--state-dir',
    path.join(dir, 'state'),
    '--log-level',
    'debug',
  ]);
  await agent.waitForLog('kubeprism running');
  await until(async () => (await get('/v1/resources/kps/k8s-loadbalancer')).spec.healthy === true, 'KubePrism healthy');
}, 30_000);

afterAll(async () => {
  await agent?.kill();
  await upstream?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('reliability: the kubeprism binary under faults', () => {
  it('a slow reader does not grow the agent: buffers stay under 256 KiB per connection, RSS under +48 MiB while 1 GiB is offered', async () => {
    const STREAMS = 4;
    const OFFERED = 256 * 1024 * 1024; // per connection: far more than any bound below
    const open = async (id: number, bytes: number): Promise<{ socket: Socket; verifier: PatternVerifier }> => {
      const socket = await connectTo('127.0.0.1', kubePrismPort);
      socket.on('error', () => undefined);
      socket.write(`stream ${id} ${bytes}\n`);
      return { socket, verifier: new PatternVerifier(id, bytes) };
    };
    // Warm the data path first (JIT, pools): the baseline should not count start-up costs.
    const warm = await open(1000, 16 * 1024 * 1024);
    warm.socket.on('data', (d: Buffer) => warm.verifier.push(d));
    await new Promise((resolve) => warm.socket.once('end', resolve));
    expect(warm.verifier.complete).toBe(true);
    warm.socket.destroy();
    const baseline = await rssKiB(agent.child.pid!);

    // Each reader takes 16 KiB every 20 ms (0.8 MB/s) while its upstream would send 256 MiB at once.
    const readers = await Promise.all(Array.from({ length: STREAMS }, (_, i) => open(i, OFFERED)));
    const drip = setInterval(() => {
      for (const r of readers) {
        const piece = r.socket.read(16 * 1024) as Buffer | null;
        if (piece) r.verifier.push(piece);
      }
    }, 20);
    let peakRss = baseline;
    let peakBuffered = 0;
    let written: number[] = [];
    try {
      const started = performance.now();
      while (performance.now() - started < 2_000) {
        // Sampling, not waiting for a condition: the bound must hold at every moment of the window.
        peakRss = Math.max(peakRss, await rssKiB(agent.child.pid!));
        const metrics = (await call(base, 'GET', '/metrics')).text;
        peakBuffered = Math.max(peakBuffered, metricValue(metrics, 'kubeprism_buffered_bytes'));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // The writer was slowed too: what it got out is what was read plus socket buffers (kernel, both hops).
      written = readers.map((_, i) => {
        const s = streamSockets.get(i);
        return s === undefined ? 0 : s.bytesWritten - s.writableLength;
      });
    } finally {
      clearInterval(drip);
      readers.forEach((r) => r.socket.destroy());
    }
    const read = readers.reduce((sum, r) => sum + r.verifier.received, 0);
    expect(Math.max(...written)).toBeLessThan(64 * 1024 * 1024);
    expect(readers.map((r) => r.verifier.error)).toEqual(readers.map(() => undefined)); // intact as far as read
    expect(read).toBeGreaterThan(STREAMS * 1024 * 1024); // they did read: slow, not stuck
    expect(peakBuffered).toBeLessThanOrEqual(STREAMS * 256 * 1024);
    expect(peakRss - baseline).toBeLessThanOrEqual(48 * 1024);
    console.info(
      `slow readers: ${STREAMS} × 256 MiB offered, ${(read / 2 ** 20).toFixed(1)} MiB read in 2 s; agent buffers peaked at ${(peakBuffered / 1024).toFixed(0)} KiB ` +
        `(bound ${STREAMS * 256} KiB), RSS ${(baseline / 1024).toFixed(0)} → peak ${(peakRss / 1024).toFixed(0)} MiB (bound +48 MiB); ` +
        `the upstream got at most ${(Math.max(...written) / 2 ** 20).toFixed(1)} MiB out per connection`,
    );
  });

  for (const [fault, breakIt, logged] of [
    [
      'replaced with garbage',
      () => writeFile(configPath, '{{{ machine: [ not yaml\n\t:'),
      'machine config rejected; keeping the config in force',
    ],
    [
      'truncated',
      async () => writeFile(configPath, (await readFile(configPath, 'utf8')).slice(0, 400)),
      'machine config rejected; keeping the config in force',
    ],
    ['deleted', () => rm(configPath), 'machine config source unreadable; keeping the config in force'],
  ] as const) {
    it(`the config file ${fault} while running: nothing changes, the error is reported, a fixed file is picked up`, async () => {
      const before = await configDerived();
      const from = agent.lines().length;
      const brokenAt = performance.now();
      await breakIt();
      const line = await agent.waitFor(() => logsSince(from, logged)[0], `log "${logged}"`);
      const status = await until(async () => {
        const s = await mcs();
        return s.lastError !== undefined && s;
      }, 'MachineConfigStatus.lastError');
      const reportedMs = performance.now() - brokenAt;
      const lastError = status.lastError as { source: string; message: string; issues: Array<{ path: string; message: string }> };
      expect(lastError.source).toBe(`file:${configPath}`);
      expect(lastError.issues.length).toBeGreaterThan(0);
      expect(lastError.issues.every((i) => typeof i.path === 'string' && i.message.length > 0)).toBe(true);
      if (fault === 'deleted') expect(lastError.message).toMatch(/cannot read.*ENOENT/);
      expect(await configDerived()).toEqual(before);
      expect(await hello()).toBe('streamer'); // still balancing
      expect(agent.running).toBe(true);

      const fixedAt = performance.now();
      const version = (await get('/v1/resources/mc/v1alpha1')).metadata.version;
      await writeFile(configPath, nextConfig());
      await until(async () => (await mcs()).lastError === undefined, 'the error cleared');
      const recoveredMs = performance.now() - fixedAt;
      expect((await get('/v1/resources/mc/v1alpha1')).metadata.version).toBe(version + 1);
      expect(await mcs()).toMatchObject({ source: `file:${configPath}`, usingLastGood: false });
      await agent.waitFor(() => logsSince(from, 'machine config applied')[0], 'log "machine config applied"');
      console.info(
        `config file ${fault}: reported after ${reportedMs.toFixed(0)} ms (log "${String(line.msg)}"), resources unchanged, fixed file applied after ${recoveredMs.toFixed(0)} ms`,
      );
    });
  }
  // Root ignores permission bits: there the last-good file is replaced by a directory nothing can rename over.
  const lastGood = (): string => path.join(dir, 'state', 'machine-config.yaml');
  const asRoot = process.getuid?.() === 0;
  const blockStateDir = async (): Promise<void> => {
    if (!asRoot) return chmod(path.join(dir, 'state'), 0o500);
    await rm(lastGood(), { force: true });
    await mkdir(path.join(lastGood(), 'blocker'), { recursive: true });
  };
  const unblockStateDir = async (): Promise<void> => {
    if (!asRoot) return chmod(path.join(dir, 'state'), 0o755);
    await rm(lastGood(), { recursive: true, force: true });
  };
  const kubeletCluster = async (): Promise<string> =>
    parse(await readFile(path.join(dir, 'state', 'kubeconfigs', 'kubelet', 'kubeconfig'), 'utf8')).clusters[0].name as string;

  it('the state directory unwritable: a new config still applies all the way, persistError and a log line say the last good copy is stale', async () => {
    // Saving runs after the config applies: let the last one land before the directory goes bad.
    const current = await readFile(configPath, 'utf8');
    await until(async () => parsePersisted(await readFile(lastGood(), 'utf8').catch(() => '')).text === current, 'the last config saved');
    await blockStateDir();
    const from = agent.lines().length;
    const version = (await get('/v1/resources/mc/v1alpha1')).metadata.version;
    await writeFile(configPath, nextConfig());
    const status = await until(async () => {
      const s = await mcs();
      return s.persistError !== undefined && s;
    }, 'MachineConfigStatus.persistError');
    expect(status).toMatchObject({ appliedVersion: version + 1, source: `file:${configPath}` });
    expect(status.lastError).toBeUndefined();
    expect(String(status.persistError)).toMatch(/cannot save last good config to .*machine-config\.yaml/);
    await agent.waitFor(
      () => logsSince(from, 'cannot persist the last good machine config; it still applies')[0],
      'the persist error in the log',
    );
    await until(async () => (await kubeletCluster()) === `reliability-${generation}`, 'the kubelet kubeconfig of the new config');
    expect(await hello()).toBe('streamer');
  });

  it('the state directory writable again: the last good copy is brought up to date by itself, persistError cleared', async () => {
    const from = agent.lines().length;
    const fixedAt = performance.now();
    await unblockStateDir();
    const running = await readFile(configPath, 'utf8');
    await until(
      async () =>
        (await mcs()).persistError === undefined && parsePersisted(await readFile(lastGood(), 'utf8').catch(() => '')).text === running,
      'the last good copy saved again',
      10_000,
    );
    const savedMs = performance.now() - fixedAt;
    await agent.waitFor(() => logsSince(from, 'last good machine config saved')[0], 'log "last good machine config saved"');
    console.info(`state directory writable again: last good copy saved by itself after ${savedMs.toFixed(0)} ms (retried with backoff)`);
  });

  it('the next config change is persisted as usual', async () => {
    const version = Number((await mcs()).appliedVersion);
    const text = nextConfig();
    await writeFile(configPath, text);
    await until(async () => Number((await mcs()).appliedVersion) > version, 'the new config applied');
    // Saved right after it applies (not before: the config never waits for the state directory).
    await until(async () => parsePersisted(await readFile(lastGood(), 'utf8')).text === text, 'the new config saved');
    expect(parsePersisted(await readFile(lastGood(), 'utf8'))).toEqual({ text, source: `file:${configPath}` });
    expect((await mcs()).persistError).toBeUndefined();
    expect(await mcs()).toMatchObject({ source: `file:${configPath}`, usingLastGood: false });
    expect(agent.running).toBe(true);
    expect(await agent.stop('SIGTERM')).toEqual({ code: 0, signal: null }); // and it still stops cleanly
  });
});
