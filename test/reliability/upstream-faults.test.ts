import { describe, expect, it, onTestFinished } from 'vitest';
import { KubePrismUpstreamType } from '../../src/resources/index.js';
import { kindOf } from '../../src/runtime/index.js';
import { eventuallyList, eventuallyResource } from '../harness/eventually.js';
import { httpsGet, type FakeApiServer } from '../harness/fake-apiserver.js';
import { waitFor } from '../harness/wait.js';
import { agentMetric, recordResource } from './fixture.js';
import { addressOf, ask, balancing, fakes, longLived, statusPtr, upstreamPtr, usableAsOthers } from './upstream-fixture.js';
import { randomLoopback } from '../harness/ports.js';

// Upstream faults against an in-process agent on the real balancer, upstreams 30 ms away (one latency
// tier): a black hole, a flapping upstream, all of them down. In each, the agent keeps serving through
// the healthy upstreams, reports the fault in KubePrismUpstreams/KubePrismStatuses and a log line, and
// takes the upstream back by itself once it recovers. Figures are printed for the report.

describe('reliability: upstream faults (in-process agent, real balancer)', () => {
  it('a black-holed upstream: marked down by check timeouts, its long-lived connections moved, new requests never hang, back when it answers again', async () => {
    const [a, b] = (await fakes(['a', 4], ['b', 5])) as [FakeApiServer, FakeApiServer];
    const { f, port } = await balancing([a.endpoint, b.endpoint], { intervalMs: 500, timeoutMs: 400 });
    await usableAsOthers(f, a.endpoint, b.endpoint);
    await usableAsOthers(f, b.endpoint, a.endpoint);
    // Long-lived connections (watches) until each upstream holds two (least connections spreads them).
    const watches: Array<Awaited<ReturnType<typeof longLived>>> = [];
    onTestFinished(() => watches.forEach((w) => w.socket.destroy()));
    const on = (name: string) => watches.filter((w) => w.upstream === name);
    while (watches.length < 16 && (on('a').length < 2 || on('b').length < 2)) watches.push(await longLived(port));
    expect(
      [on('a').length, on('b').length].every((n) => n >= 2),
      `watches on ${watches.map((w) => w.upstream).join(',')}`,
    ).toBe(true);

    const holedAt = performance.now();
    a.blackHole = true;
    await eventuallyResource(f.state, upstreamPtr(a), (r) =>
      expect(r?.spec).toMatchObject({ healthy: false, lastError: expect.stringMatching(/timed out/) }),
    );
    const detectedMs = performance.now() - holedAt;
    await f.logs.waitFor({ msg: 'upstream unhealthy', upstream: addressOf(a) });
    await f.logs.waitFor({ msg: 'closing connections', upstream: addressOf(a) });
    await Promise.all(on('a').map((w) => w.closed)); // moved, not left hanging
    expect(on('b').every((w) => !w.socket.destroyed)).toBe(true);

    const answers = await Promise.all(Array.from({ length: 10 }, () => ask(port)));
    expect(answers).toEqual(answers.map(() => 'b'));

    const clearedAt = performance.now();
    a.blackHole = false;
    await eventuallyResource(f.state, upstreamPtr(a), (r) => expect(r?.spec.healthy).toBe(true));
    const backMs = performance.now() - clearedAt;
    await usableAsOthers(f, a.endpoint, b.endpoint);
    const after: string[] = [];
    for (let i = 0; i < 10 && !after.includes('a'); i++) after.push(await ask(port)); // round robin between equals
    expect(after).toContain('a');
    console.info(
      `black hole: marked down after ${detectedMs.toFixed(0)} ms, its ${on('a').length} long-lived connections closed, 10/10 requests answered by the other; back ${backMs.toFixed(0)} ms after it answered again`,
    );
  });

  it('an upstream flapping every second: health follows it, clients keep working, no storm of checks or dials', async () => {
    // flappy is restarted on its port: on an address of its own, where nothing else can take it meanwhile.
    const [flappy, steady] = (await fakes(['flappy', randomLoopback()], ['steady', 7])) as [FakeApiServer, FakeApiServer];
    const { f, port } = await balancing([flappy.endpoint, steady.endpoint], { intervalMs: 200, timeoutMs: 150 });
    const id = addressOf(flappy);
    const health = recordResource(f.state, upstreamPtr(flappy), (s) => s.healthy);
    onTestFinished(() => health.stop());
    const logFrom = f.logs.entries.length;
    const checksBefore = await agentMetric(f.agent, 'kubeprism_upstream_check_duration_seconds_count', { upstream: id });
    const dialsBefore = await agentMetric(f.agent, 'kubeprism_upstream_dial_failures_total', { upstream: id });

    // Three clients send requests back to back; like real API clients, each retries a failed one once.
    let running = true;
    const tally = { requests: 0, retried: 0, failed: 0, flappy: 0, steady: 0 };
    const client = async (): Promise<void> => {
      while (running) {
        tally.requests++;
        let name = await ask(port).catch(() => undefined);
        if (name === undefined) {
          tally.retried++;
          name = await ask(port).catch(() => undefined);
        }
        if (name === 'flappy') tally.flappy++;
        else if (name === 'steady') tally.steady++;
        else tally.failed++;
      }
    };
    const clients = [client(), client(), client()];

    // The fault itself runs on a timetable: down for 500 ms, up for 500 ms, four times.
    const CYCLES = 4;
    const startedAt = performance.now();
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    for (let i = 0; i < CYCLES; i++) {
      await pause(500);
      await flappy.stop();
      await pause(500);
      await flappy.restart();
    }
    const windowMs = performance.now() - startedAt;
    await eventuallyResource(f.state, upstreamPtr(flappy), (r) => expect(r?.spec.healthy).toBe(true));
    running = false;
    await Promise.all(clients);

    expect(tally.failed, JSON.stringify(tally)).toBe(0);
    expect(tally.flappy, 'flappy served while up').toBeGreaterThan(0);
    expect(await agentMetric(f.agent, 'kubeprism_connections_failed_total')).toBe(0);
    // Health tracked every outage and every return (a slow check on a busy machine may add one more).
    const downs = health.seen.filter((s) => !s.value).length;
    const ups = health.seen.filter((s, i) => s.value && i > 0).length;
    expect(downs).toBeGreaterThanOrEqual(CYCLES);
    expect(ups).toBeGreaterThanOrEqual(CYCLES);
    expect(f.logs.matching({ msg: 'upstream unhealthy', upstream: id }, logFrom).length).toBeGreaterThanOrEqual(CYCLES);
    expect(f.logs.matching({ msg: 'upstream healthy', upstream: id }, logFrom).length).toBeGreaterThanOrEqual(CYCLES);
    // No storms: checks keep their rhythm (one per 200 ms ± 10 %), and each outage costs at most one failed dial per client.
    const checks = (await agentMetric(f.agent, 'kubeprism_upstream_check_duration_seconds_count', { upstream: id })) - checksBefore;
    const dials = (await agentMetric(f.agent, 'kubeprism_upstream_dial_failures_total', { upstream: id })) - dialsBefore;
    expect(checks).toBeLessThanOrEqual(Math.ceil(windowMs / 180) + 3);
    expect(dials).toBeLessThanOrEqual(CYCLES * 3);
    console.info(
      `flapping (${CYCLES} × 500 ms down/up over ${windowMs.toFixed(0)} ms): ${tally.requests} requests, ${tally.retried} retried once, 0 failed ` +
        `(${tally.flappy} to flappy, ${tally.steady} to steady); health changes seen ${downs} down/${ups} up; ${checks} checks, ${dials} failed dials`,
    );
  });

  it('all upstreams down, then one back: unhealthy with reasons, connections refused meanwhile, new ones succeed once it returns', async () => {
    // Restarted on their ports: on addresses of their own, where nothing else can take them meanwhile.
    const [a, b] = (await fakes(['a', randomLoopback()], ['b', randomLoopback()])) as [FakeApiServer, FakeApiServer];
    const { f, port } = await balancing([a.endpoint, b.endpoint], { intervalMs: 200, timeoutMs: 150 });
    await Promise.all([a.stop(), b.stop()]);
    const status = await eventuallyResource(f.state, statusPtr, (r) => {
      expect(r?.spec).toMatchObject({ healthy: false, listening: true });
      expect(r?.spec.error).toMatch(/no healthy upstream/);
      for (const s of [a, b]) expect(r?.spec.error).toContain(addressOf(s));
      return r!;
    });
    await eventuallyList(f.state, kindOf(KubePrismUpstreamType), (items) =>
      expect(items.map((u) => [u.spec.healthy, /ECONNREFUSED|ECONNRESET/.test(u.spec.lastError ?? '')])).toEqual([
        [false, true],
        [false, true],
      ]),
    );
    await f.logs.waitFor({ msg: 'upstream unhealthy', upstream: addressOf(a) });
    await f.logs.waitFor({ msg: 'upstream unhealthy', upstream: addressOf(b) });

    // Meanwhile a client is refused (every upstream tried) and told so at once, not left hanging.
    await expect(httpsGet('127.0.0.1', port, '/version', 3_000)).rejects.toThrow();
    await f.logs.waitFor({ msg: 'client connection failed' });
    expect(await agentMetric(f.agent, 'kubeprism_connections_failed_total')).toBeGreaterThanOrEqual(1);

    const restartedAt = performance.now();
    await b.restart();
    await eventuallyResource(f.state, statusPtr, (r) =>
      expect(r?.spec).toEqual({ host: `127.0.0.1:${port}`, healthy: true, listening: true }),
    );
    const healthyMs = performance.now() - restartedAt;
    expect(await ask(port)).toBe('b');
    const servedMs = performance.now() - restartedAt;
    await waitFor(() => f.logs.matching({ msg: 'upstream healthy', upstream: addressOf(b) }).length > 0, {
      description: 'b healthy in the log',
    });
    console.info(
      `all down: status "${status.spec.error}"; one back: healthy ${healthyMs.toFixed(0)} ms after its restart, first request served at ${servedMs.toFixed(0)} ms`,
    );
  });
});
