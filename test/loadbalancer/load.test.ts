import { execFileSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { PatternVerifier, writePattern } from '../harness/pattern.js';
import { connectTo } from '../harness/ports.js';
import { waitFor, waitForSnapshot } from '../harness/wait.js';
import { allHealthy, lbPort, startApi, startLb, startTcp } from './fixtures.js';

// The two tests that load the machine or depend on measured latency. They share this file so that
// vitest (which runs files in parallel) never runs them at the same time: the 1,000-connection transfer
// keeps a core busy for seconds, which is exactly the noise the latency test must not measure.

const WANTED = 1000;
const SIZE = 1024 * 1024;
/** File descriptors per proxied connection in this one process: client, proxy ×2, server. */
const FDS_PER_CONNECTION = 4;

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
    const hard = read('-Hn');
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${Math.min(hard, needed)}:${hard}`]);
      soft = read('-n'); // a child inherits our (new) limit
    } catch {
      // no prlimit: stay with what we have
    }
  }
  return soft;
}

/** One short connection through the balancer: send a non-TLS line, which the fake server answers by closing. */
function poke(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    s.once('connect', () => s.write('ping\r\n\r\n'));
    s.once('close', () => resolve());
    s.resume();
  });
}

describe('under load', () => {
  it('1,000 concurrent connections each move 1 MiB both ways intact', async (ctx) => {
    const limit = fileLimit(WANTED * FDS_PER_CONNECTION + 512);
    const n = Math.min(WANTED, Math.floor((limit - 512) / FDS_PER_CONNECTION));
    if (n < WANTED) {
      const reason = `open-files limit ${limit} allows ${n} connections in one process, not ${WANTED}`;
      console.warn(reason);
      ctx.annotate(reason);
    }
    expect(n).toBeGreaterThan(100);

    // Upstream: each connection says its id (4 bytes), waits until all n are open, then both sides
    // stream 1 MiB of pattern at once; each side checks what it receives byte for byte. The upstream
    // ends its side once it has sent its MiB and received the client's, so the client's end means done.
    let hello = 0;
    let release: () => void = () => undefined;
    const allOpen = new Promise<void>((resolve) => (release = resolve));
    const upstreamChecks: PatternVerifier[] = [];
    const server = await startTcp('bulk', 2, {
      handler: (socket) => {
        socket.on('error', () => undefined);
        socket.once('readable', () => {
          const header = socket.read(4) as Buffer | null;
          if (!header) return; // a health check
          const id = header.readUInt32BE(0);
          const verifier = new PatternVerifier(2 * id, SIZE);
          upstreamChecks.push(verifier);
          socket.on('data', (d: Buffer) => verifier.push(d));
          const received = new Promise<void>((resolve) => socket.once('end', () => resolve()));
          if (++hello === n) release();
          void allOpen.then(async () => {
            socket.resume();
            await writePattern(socket, 2 * id + 1, SIZE);
            await received;
            socket.end();
          }).catch(() => undefined);
        });
      },
    });
    const lb = startLb({ healthCheck: { mode: 'tcp', intervalMs: 1_000 }, dialTimeoutMs: 10_000 });
    lb.setUpstreams([server.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 1);

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
    await waitFor(() => hello === n, { description: `all ${n} connections open through the balancer`, pollMs: 20, timeoutMs: 20_000 });
    expect(lb.snapshot().connections.active).toBe(n); // all at once
    const down = await Promise.all(results);
    const seconds = (performance.now() - started) / 1000;
    expect(down.filter((v) => !v.complete).map((v) => v.error ?? `${v.received} of ${SIZE}`)).toEqual([]);
    expect(upstreamChecks.filter((v) => !v.complete).map((v) => v.error ?? `${v.received} of ${SIZE}`)).toEqual([]);
    expect(upstreamChecks).toHaveLength(n);
    const s = lb.snapshot();
    expect(s.connections.failed).toBe(0);
    expect(s.upstreams[0]?.dialFailures).toBe(0);
    console.info(`${n} connections × 1 MiB each way: ${((2 * n * SIZE) / 2 ** 30).toFixed(2)} GiB through the proxy in ${seconds.toFixed(1)} s (one process, client + proxy + server)`);
  }, 120_000);

  it('prefers the faster upstream: over 95 % of new connections go to the 5 ms one rather than the 50 ms one', async () => {
    // latencyMs: a fresh connection's handshake + answer take that long, so a check measures ~5 / ~50 ms.
    const fast = await startApi('fast', 2, { latencyMs: 5 });
    const slow = await startApi('slow', 3, { latencyMs: 50 });
    // A slow check rhythm: a 5 ms check reads 7-9 ms on a quiet test machine, and a busy one can push a
    // few checks in a row past the 10 ms tier bound. One check a second means a demotion (three slow
    // checks in a row) cannot happen within the second or so that the connections below take.
    // Selection given the tiers is under test here; tiering itself is tested with a fake clock.
    const lb = startLb({ healthCheck: { intervalMs: 1_000 } });
    lb.setUpstreams([fast.endpoint, slow.endpoint]);
    const port = await lbPort(lb);
    // The very first check pays for cold code paths; wait for the tiers the checks settle on.
    const s = await waitForSnapshot(
      lb,
      (x) => x.upstreams.every((u) => u.healthy) && (x.upstreams[0]?.tier ?? 5) < (x.upstreams[1]?.tier ?? 5),
      'the fast upstream in a better tier',
      15_000,
    );
    const tiers = s.upstreams.map((u) => `${u.address} tier ${u.tier} (${u.latencyMs?.toFixed(1)} ms)`);
    // Cheap connections (no TLS handshake in this process) so the traffic does not distort the checks it
    // is judged by; the balancer reports where each one went.
    const total = 500;
    for (let i = 0; i < total; i++) await poke(port);
    const after = await waitForSnapshot(lb, (x) => x.upstreams.reduce((sum, u) => sum + u.totalConnections, 0) === total, `${total} connections counted`);
    const share = (after.upstreams[0]?.totalConnections ?? 0) / total;
    console.info(`latency preference: ${(share * 100).toFixed(1)} % of ${total} to the fast upstream; ${tiers.join(', ')}`);
    expect(share).toBeGreaterThan(0.95);
  }, 30_000);
});
