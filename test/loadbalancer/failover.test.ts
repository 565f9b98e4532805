import type { TLSSocket } from 'node:tls';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { LoadBalancer } from '../../src/loadbalancer/load-balancer.js';
import { tlsConnectTo, whoAnswers, type FakeApiServer } from '../harness/fake-apiserver.js';
import { randomLoopback } from '../harness/ports.js';
import { waitFor, waitForEvent, waitForSnapshot, waitForUpstream } from '../harness/wait.js';
import { addressOf, allHealthy, lbPort, startApi, startLb } from './fixtures.js';

// Upstreams are fake API servers on 127.0.0.2, .3, .4; the balancer checks /readyz every 100 ms.

/** `count` long-lived TLS connections through the balancer (stand-ins for watches), closed at test end. */
async function holdConnections(port: number, count: number): Promise<TLSSocket[]> {
  const sockets = await Promise.all(Array.from({ length: count }, () => tlsConnectTo('127.0.0.1', port)));
  for (const s of sockets) {
    s.on('error', () => undefined);
    onTestFinished(() => void s.destroy());
  }
  return sockets;
}

/** Connections through the balancer per upstream, as it reports them. */
function active(lb: LoadBalancer, server: FakeApiServer): number {
  return lb.snapshot().upstreams.find((u) => u.address === addressOf(server))?.activeConnections ?? -1;
}

describe('failover', () => {
  it('killing the upstream in use fails no new client connection and stops traffic to it', async () => {
    const a = await startApi('a', 2);
    const b = await startApi('b', 3);
    // Long interval: the balancer learns of the death only through its dials.
    const lb = startLb({ healthCheck: { intervalMs: 60_000 } });
    lb.setUpstreams([a.endpoint, b.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 2);
    const inUse = (await whoAnswers('127.0.0.1', port)) === 'a' ? a : b;
    const other = inUse === a ? b : a;
    await inUse.stop();
    const answers = [];
    for (let i = 0; i < 20; i++) answers.push(await whoAnswers('127.0.0.1', port)); // every one must succeed
    expect(new Set(answers)).toEqual(new Set([other.name]));
    const s = lb.snapshot();
    const dead = s.upstreams.find((u) => u.address === addressOf(inUse));
    // At most one failed dial (it was still the preferred or next in turn), then it is down and never tried again.
    expect(dead?.dialFailures).toBeLessThanOrEqual(1);
    if (dead?.dialFailures === 1) expect(dead).toMatchObject({ healthy: false, lastError: expect.stringContaining('ECONNREFUSED') });
    expect(s.connections.failed).toBe(0);
  });

  it('a black-holed upstream (accepts, never answers) is judged down by the check timeout and avoided', async () => {
    const hole = await startApi('hole', 2);
    const b = await startApi('b', 3);
    const lb = startLb({ healthCheck: { timeoutMs: 150 } });
    lb.setUpstreams([hole.endpoint, b.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 2);
    hole.blackHole = true; // new connections are accepted and swallowed
    const s = await waitForUpstream(lb, addressOf(hole), (u) => !u.healthy, 'the black hole judged down');
    expect(s.upstreams[0]?.lastError).toBe('health check timed out after 150 ms');
    for (let i = 0; i < 5; i++) expect(await whoAnswers('127.0.0.1', port)).toBe('b');
  });

  it('one timed-out check keeps the connections to an upstream; a second one in a row closes them', async () => {
    const hole = await startApi('hole', 2);
    const b = await startApi('b', 3);
    const lb = startLb({ healthCheck: { timeoutMs: 150 } });
    lb.setUpstreams([hole.endpoint]);
    const port = await lbPort(lb);
    const [held] = await holdConnections(port, 1); // on the hole: the only upstream
    let ended = false;
    held!.once('close', () => (ended = true));
    lb.setUpstreams([hole.endpoint, b.endpoint]);
    await allHealthy(lb, 2);
    const closed = waitForEvent(held!, 'close', 'the held connection closed after the second timeout', undefined, 10_000);
    hole.blackHole = true;
    await waitForUpstream(lb, addressOf(hole), (u) => u.score === -1, 'the first timed-out check');
    await waitForUpstream(lb, addressOf(hole), (u) => u.score === -2, 'the second timed-out check');
    // A whole check interval and timeout passed between the two: a close at the first would have shown.
    expect(ended).toBe(false);
    await closed;
  });

  it('a definite failure (readyz 500) closes the connections at the first failed check', async () => {
    const sick = await startApi('sick', 2);
    const b = await startApi('b', 3);
    const lb = startLb();
    lb.setUpstreams([sick.endpoint]);
    const port = await lbPort(lb);
    const [held] = await holdConnections(port, 1);
    lb.setUpstreams([sick.endpoint, b.endpoint]);
    await allHealthy(lb, 2);
    const closed = waitForEvent(held!, 'close', 'the held connection closed');
    sick.readyzStatus = 500;
    await waitForUpstream(lb, addressOf(sick), (u) => u.score === -1, 'the first failed check');
    await closed;
    expect(lb.snapshot().upstreams.find((u) => u.address === addressOf(sick))?.score).toBe(-1);
  });

  it('panic mode: with every upstream unhealthy, all are still tried', async () => {
    const a = await startApi('a', 2, { readyzStatus: 500 });
    const b = await startApi('b', 3, { readyzStatus: 500 });
    const lb = startLb();
    lb.setUpstreams([a.endpoint, b.endpoint]);
    const port = await lbPort(lb);
    await waitForSnapshot(lb, (s) => s.upstreams.every((u) => u.score < 0), 'both upstreams judged unhealthy');
    expect(lb.snapshot().healthy).toBe(false);
    expect(['a', 'b']).toContain(await whoAnswers('127.0.0.1', port)); // worst case = the external endpoint
    await a.stop();
    for (let i = 0; i < 5; i++) expect(await whoAnswers('127.0.0.1', port)).toBe('b'); // a's dial fails, b is tried
    await b.stop();
    await expect(whoAnswers('127.0.0.1', port)).rejects.toThrow(); // none reachable: now, and only now, the client fails
    expect(lb.snapshot().connections.failed).toBe(1);
  });

  it('reconcile keeps the survivors state and connections, closes the removed ones, checks the new one at once', async () => {
    const a = await startApi('a', 2);
    const b = await startApi('b', 3);
    const c = await startApi('c', 4);
    const lb = startLb();
    lb.setUpstreams([a.endpoint, b.endpoint]);
    const port = await lbPort(lb);
    await waitForSnapshot(lb, (s) => s.upstreams.every((u) => u.score >= 2), 'a and b at score 2');
    const held = await holdConnections(port, 4); // two on each (fewest connections, round robin)
    await waitFor(() => active(lb, a) === 2 && active(lb, b) === 2, { description: '2 + 2 connections', pollMs: 10 });
    const scoreA = lb.snapshot().upstreams[0]?.score ?? 0;
    lb.setUpstreams([a.endpoint, c.endpoint]);
    const after = lb.snapshot();
    expect(after.upstreams.map((u) => u.address)).toEqual([addressOf(a), addressOf(c)]);
    expect(after.upstreams[0]?.score).toBeGreaterThanOrEqual(scoreA); // not reset
    expect(after.upstreams[0]?.activeConnections).toBe(2); // a's connections untouched
    await waitForUpstream(lb, addressOf(c), (u) => u.healthy, 'the new upstream healthy');
    expect(c.requestCount('/readyz')).toBeGreaterThanOrEqual(1);
    // b was removed while a healthy alternative exists: its two connections are closed.
    await waitFor(() => held.filter((s) => s.destroyed).length === 2, {
      description: 'the two client connections to b closed',
      pollMs: 10,
    });
    expect(active(lb, a)).toBe(2);
  });
});

describe('close-on-down and recovery', () => {
  it('readyz turning 500 closes the connections within 2 intervals, while a healthy alternative exists', async () => {
    const a = await startApi('a', 2);
    const b = await startApi('b', 3);
    const lb = startLb();
    lb.setUpstreams([a.endpoint, b.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 2);
    const held = await holdConnections(port, 4);
    await waitFor(() => active(lb, a) === 2 && active(lb, b) === 2, { description: '2 + 2 connections', pollMs: 10 });
    const checksBefore = a.requestCount('/readyz');
    const flipped = performance.now();
    a.readyzStatus = 500;
    await waitFor(() => active(lb, a) === 0, { description: "a's connections closed", pollMs: 5, timeoutMs: 3_000 });
    const checks = a.requestCount('/readyz') - checksBefore;
    const elapsed = performance.now() - flipped;
    // Counted in checks, not milliseconds: the second check after the flip at the latest.
    expect(checks).toBeLessThanOrEqual(2);
    console.info(`readyz 500 → connections closed after ${checks} check(s), ${elapsed.toFixed(0)} ms (interval 100 ms)`);
    expect(active(lb, b)).toBe(2); // the healthy upstream keeps its connections
    await waitFor(() => held.filter((s) => s.destroyed).length === 2, { description: 'the two clients of a to see the close', pollMs: 5 });
  });

  it('keeps connections to a down upstream when no healthy alternative exists, closes them once one appears', async () => {
    const a = await startApi('a', 2);
    const lb = startLb();
    lb.setUpstreams([a.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 1);
    const [conn] = await holdConnections(port, 1);
    a.readyzStatus = 500;
    await waitForUpstream(lb, addressOf(a), (u) => u.score <= -2, 'a judged down twice');
    expect(active(lb, a)).toBe(1); // a half-working upstream beats none
    const b = await startApi('b', 3);
    const gone = waitForEvent(conn as TLSSocket, 'close', 'the connection to a to close');
    lb.setUpstreams([a.endpoint, b.endpoint]);
    await gone;
    expect(active(lb, a)).toBe(0);
  });

  it('closeConnectionsOnDown: false leaves connections alone', async () => {
    const a = await startApi('a', 2);
    const b = await startApi('b', 3);
    const lb = startLb({ closeConnectionsOnDown: false });
    lb.setUpstreams([a.endpoint, b.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 2);
    await holdConnections(port, 2);
    await waitFor(() => active(lb, a) === 1, { description: 'one connection on a', pollMs: 10 });
    a.readyzStatus = 500;
    await waitForUpstream(lb, addressOf(a), (u) => u.score <= -2, 'a judged down twice');
    expect(active(lb, a)).toBe(1);
  });

  it('a downed upstream is back in rotation within 3 intervals of recovering', async () => {
    const a = await startApi('a', randomLoopback()); // restarted on its port: an address of its own
    const b = await startApi('b', 3);
    const lb = startLb();
    lb.setUpstreams([a.endpoint, b.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 2);
    await a.stop();
    await waitForUpstream(lb, addressOf(a), (u) => !u.healthy, 'a down');
    await a.restart(); // same address and port
    const restarted = performance.now();
    await waitForUpstream(lb, addressOf(a), (u) => u.healthy, 'a healthy again');
    const elapsed = performance.now() - restarted;
    expect(a.requestCount('/readyz')).toBeLessThanOrEqual(3); // healthy after at most 3 checks since it came back
    console.info(`recovered upstream healthy after ${elapsed.toFixed(0)} ms (interval 100 ms)`);
    // Back in rotation: once b is judged down, new connections go to a without a failed dial.
    b.readyzStatus = 500;
    await waitForUpstream(lb, addressOf(b), (u) => !u.healthy, 'b judged down');
    expect(await whoAnswers('127.0.0.1', port)).toBe('a');
    expect(lb.snapshot().connections.failed).toBe(0);
  });
});
