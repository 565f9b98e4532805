import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { connectionBudget, IntegrityLoad } from '../harness/integrity-load.js';
import { waitFor, waitForSnapshot } from '../harness/wait.js';
import { allHealthy, lbPort, startApi, startLb, startTcp } from './fixtures.js';

// The two tests that load the machine or depend on measured latency. They share this file so that
// vitest (which runs files in parallel) never runs them at the same time: the 1,000-connection transfer
// keeps a core busy for seconds, which is exactly the noise the latency test must not measure.

const WANTED = 1000;
const SIZE = 1024 * 1024;
/** File descriptors per proxied connection in this one process: client, proxy ×2, server. */
const FDS_PER_CONNECTION = 4;

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
    const { n } = connectionBudget(ctx, WANTED, FDS_PER_CONNECTION);
    expect(n).toBeGreaterThan(100);

    const load = new IntegrityLoad(n, SIZE);
    const server = await startTcp('bulk', 2, { handler: load.handler });
    const lb = startLb({ healthCheck: { mode: 'tcp', intervalMs: 1_000 }, dialTimeoutMs: 10_000 });
    lb.setUpstreams([server.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 1);

    const started = performance.now();
    const results = load.run(port);
    await waitFor(() => load.hello === n, { description: `all ${n} connections open through the balancer`, pollMs: 20, timeoutMs: 20_000 });
    expect(lb.snapshot().connections.active).toBe(n); // all at once
    const received = await results;
    const seconds = (performance.now() - started) / 1000;
    expect(load.failures(received)).toEqual([]);
    expect(load.upstreamChecks).toHaveLength(n);
    const s = lb.snapshot();
    expect(s.connections.failed).toBe(0);
    expect(s.upstreams[0]?.dialFailures).toBe(0);
    console.info(
      `${n} connections × 1 MiB each way: ${((2 * n * SIZE) / 2 ** 30).toFixed(2)} GiB through the proxy in ${seconds.toFixed(1)} s (one process, client + proxy + server)`,
    );
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
    const after = await waitForSnapshot(
      lb,
      (x) => x.upstreams.reduce((sum, u) => sum + u.totalConnections, 0) === total,
      `${total} connections counted`,
    );
    const share = (after.upstreams[0]?.totalConnections ?? 0) / total;
    console.info(`latency preference: ${(share * 100).toFixed(1)} % of ${total} to the fast upstream; ${tiers.join(', ')}`);
    expect(share).toBeGreaterThan(0.95);
  }, 30_000);
});
