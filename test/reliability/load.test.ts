import { execFileSync } from 'node:child_process';
import type { Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { KUBEPRISM_STATUS_ID, KubePrismStatusType, KubePrismUpstreamType, upstreamId } from '../../src/resources/index.js';
import { ptr } from '../../src/runtime/index.js';
import { eventuallyResource } from '../harness/eventually.js';
import { PatternVerifier, writePattern } from '../harness/pattern.js';
import { connectTo, freePort, loopback } from '../harness/ports.js';
import { TcpTestServer } from '../harness/tcp-server.js';
import { waitFor } from '../harness/wait.js';
import { agentMetric, balancedConfig, startAgent } from './fixture.js';

// 2,000 client connections held open at once through the agent's own listener (config file → chain →
// balancer), each moving 64 KiB each way, every byte checked at both ends. Client, agent and upstream
// share this process, so each connection costs 4 file descriptors here. (The slow-reader memory bound is
// measured on the spawned binary, in binary-faults.test.ts.)

const WANTED = 2000;
const SIZE = 64 * 1024;
const FDS_PER_CONNECTION = 4;
/** Descriptors for everything else in the process (vitest, the agent's files, health checks). */
const SPARE_FDS = 512;

function shell(cmd: string): string {
  return execFileSync('sh', ['-c', cmd], { encoding: 'utf8' }).trim();
}

/** The soft open-files limit, raised to the hard limit when it is too low for `needed` (prlimit, same user). */
function fileLimit(needed: number): number {
  const read = (flag: string): number => {
    const v = shell(`ulimit ${flag}`);
    return v === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(v);
  };
  let soft = read('-n');
  if (soft < needed) {
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${Math.min(read('-Hn'), needed)}:${read('-Hn')}`]);
      soft = read('-n');
    } catch {
      // no prlimit: scale down below
    }
  }
  return soft;
}

describe('reliability: load through the agent', () => {
  it('2,000 concurrent connections through the agent listener, every byte checked both ways', async (ctx) => {
    const limit = fileLimit(WANTED * FDS_PER_CONNECTION + SPARE_FDS);
    const n = Math.min(WANTED, Math.floor((limit - SPARE_FDS) / FDS_PER_CONNECTION));
    if (n < WANTED) {
      const reason = `open-files limit ${limit} allows ${n} connections in one process (4 descriptors each), not ${WANTED}`;
      console.warn(reason);
      ctx.annotate(reason);
    }
    expect(n).toBeGreaterThan(200);

    // Upstream: each connection says its id (4 bytes) and waits until all n are open; then both sides send
    // their 64 KiB at once and check what they get. It ends its side after sending and receiving.
    let hello = 0;
    let release: () => void = () => undefined;
    const allOpen = new Promise<void>((resolve) => (release = resolve));
    const upstreamChecks: PatternVerifier[] = [];
    const server = await TcpTestServer.start({
      name: 'bulk',
      host: loopback(16),
      handler: (socket: Socket) => {
        socket.on('error', () => undefined);
        socket.once('readable', () => {
          const header = socket.read(4) as Buffer | null;
          if (!header) return; // a health check: connects and leaves
          const id = header.readUInt32BE(0);
          const verifier = new PatternVerifier(2 * id, SIZE);
          upstreamChecks.push(verifier);
          socket.on('data', (d: Buffer) => verifier.push(d));
          const received = new Promise<void>((resolve) => socket.once('end', () => resolve()));
          if (++hello === n) release();
          void allOpen
            .then(async () => {
              socket.resume();
              await writePattern(socket, 2 * id + 1, SIZE);
              await received;
              socket.end();
            })
            .catch(() => undefined);
        });
      },
    });
    onTestFinished(() => server.stop());
    const port = await freePort();
    const f = await startAgent({ config: balancedConfig({ port, endpoint: server.endpoint, mode: 'tcp', intervalMs: 1000, timeoutMs: 500 }) });
    onTestFinished(() => f.stop());
    await eventuallyResource(f.state, ptr(KubePrismStatusType, KUBEPRISM_STATUS_ID), (r) => expect(r?.spec).toMatchObject({ listening: true, healthy: true }));

    const started = performance.now();
    const clients: Socket[] = [];
    onTestFinished(() => clients.forEach((c) => c.destroy()));
    const results = Array.from({ length: n }, async (_, id) => {
      const c = await connectTo('127.0.0.1', port);
      clients.push(c);
      c.on('error', () => undefined);
      const header = Buffer.alloc(4);
      header.writeUInt32BE(id, 0);
      c.write(header);
      const verifier = new PatternVerifier(2 * id + 1, SIZE);
      const ended = new Promise<void>((resolve, reject) => {
        c.on('data', (d: Buffer) => verifier.push(d));
        c.once('end', () => resolve());
        c.once('close', () => reject(new Error(`connection ${id} closed before its end`)));
      });
      c.pause();
      await allOpen;
      c.resume();
      await writePattern(c, 2 * id, SIZE);
      c.end();
      await ended;
      return verifier;
    });
    await waitFor(() => hello === n, { description: `all ${n} connections open through the agent`, pollMs: 20, timeoutMs: 30_000, detail: () => ({ hello }) });
    const openMs = performance.now() - started;
    // All at once, as the agent counts them, in its metrics and (refreshed every 100 ms) its resources.
    expect(await agentMetric(f.agent, 'kubeprism_connections')).toBe(n);
    await eventuallyResource(f.state, ptr(KubePrismUpstreamType, upstreamId(server.host, server.port)), (r) => expect(r?.spec.activeConnections).toBe(n));

    const down = await Promise.all(results);
    const seconds = (performance.now() - started) / 1000;
    expect(down.filter((v) => !v.complete).map((v) => v.error ?? `${v.received} of ${SIZE}`)).toEqual([]);
    expect(upstreamChecks.filter((v) => !v.complete).map((v) => v.error ?? `${v.received} of ${SIZE}`)).toEqual([]);
    expect(upstreamChecks).toHaveLength(n);
    for (const name of ['kubeprism_connections_failed_total', 'kubeprism_connections_refused_total', 'kubeprism_connections_stalled_total', 'kubeprism_upstream_dial_failures_total']) {
      expect(await agentMetric(f.agent, name), name).toBe(0);
    }
    await eventuallyResource(f.state, ptr(KubePrismUpstreamType, upstreamId(server.host, server.port)), (r) => expect(r?.spec.activeConnections).toBe(0));
    console.info(
      `load: ${n} connections open at once through the agent after ${openMs.toFixed(0)} ms; ${((2 * n * SIZE) / 2 ** 20).toFixed(0)} MiB moved intact in ${seconds.toFixed(1)} s; ` +
        `0 failed, 0 refused, 0 dial failures (open-files limit ${limit})`,
    );
  }, 90_000);
});
