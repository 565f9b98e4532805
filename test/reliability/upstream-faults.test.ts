import type { TLSSocket } from 'node:tls';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  KUBEPRISM_STATUS_ID,
  KubePrismStatusType,
  KubePrismUpstreamType,
  upstreamId,
} from '../../src/resources/index.js';
import { kindOf, ptr } from '../../src/runtime/index.js';
import { eventuallyList, eventuallyResource } from '../harness/eventually.js';
import { FakeApiServer, httpsGet, tlsConnectTo } from '../harness/fake-apiserver.js';
import { freePort, loopback } from '../harness/ports.js';
import { waitFor } from '../harness/wait.js';
import { agentMetric, balancedConfig, controlPlaneMember, recordResource, startAgent, type Address, type AgentFixture } from './fixture.js';
import { StreamApiServer, startTransfer } from './stream-api-server.js';

// Upstream faults against an in-process agent on the real balancer: readyz checks every 150 ms (120 ms
// timeout), upstreams 30 ms away so they share a latency tier. In each, the agent keeps serving through
// the healthy upstreams, reports the fault in KubePrismUpstreams/KubePrismStatuses and a log line, and
// takes the upstream back by itself once it recovers. Figures are printed for the report.

const statusPtr = ptr(KubePrismStatusType, KUBEPRISM_STATUS_ID);
const upstreamPtr = (s: Address) => ptr(KubePrismUpstreamType, upstreamId(s.host, s.port));
const addressOf = (s: Address): string => upstreamId(s.host, s.port);

/** An agent whose cluster endpoint is `servers[0]` and whose members are the others; resolves once all are healthy. */
async function balancing(servers: Address[]): Promise<{ f: AgentFixture; port: number }> {
  const port = await freePort();
  const f = await startAgent({ config: balancedConfig({ port, endpoint: servers[0] as Address }) });
  onTestFinished(() => f.stop());
  for (const [i, server] of servers.slice(1).entries()) await f.agent.putMember(`cp-${i}`, controlPlaneMember(`cp-${i}`, server));
  const want = servers.map((s) => [addressOf(s), true]).sort();
  await eventuallyList(f.state, kindOf(KubePrismUpstreamType), (items) => expect(items.map((u) => [u.metadata.id, u.spec.healthy]).sort()).toEqual(want));
  await eventuallyResource(f.state, statusPtr, (r) => expect(r?.spec).toMatchObject({ listening: true, healthy: true }));
  return { f, port };
}

/** Fake API servers 30 ms away on 127.0.0.n, each stopped when the test ends (also if a later one fails to start). */
async function fakes(...specs: Array<[string, number]>): Promise<FakeApiServer[]> {
  const servers: FakeApiServer[] = [];
  for (const [name, n] of specs) {
    const server = await FakeApiServer.start({ name, host: loopback(n), latencyMs: 30 });
    onTestFinished(() => server.stop());
    servers.push(server);
  }
  return servers;
}

/** Who answers `GET /version` through the balancer (a fresh connection each time). */
async function ask(port: number): Promise<string> {
  return (JSON.parse((await httpsGet('127.0.0.1', port, '/version', 3_000)).body) as { name: string }).name;
}

/** A long-lived client connection (a watch): one request over it says which upstream it reached. */
async function longLived(port: number): Promise<{ socket: TLSSocket; upstream: string; closed: Promise<void> }> {
  const socket = await tlsConnectTo('127.0.0.1', port);
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const upstream = await new Promise<string>((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      const name = /"name":"([^"]+)"/.exec(text)?.[1];
      if (name === undefined) return;
      socket.off('data', onData);
      resolve(name);
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed before answering: ${text}`)));
    socket.write('GET /version HTTP/1.1\r\nhost: kubernetes\r\n\r\n');
  });
  return { socket, upstream, closed };
}

describe('reliability: upstream faults (in-process agent, real balancer)', () => {
  it('an upstream killed mid-transfer: its clients reconnect to the other, no new traffic goes to it, it returns after a restart', async () => {
    const a = await StreamApiServer.start({ name: 'a', host: loopback(2) });
    onTestFinished(() => a.stop());
    const b = await StreamApiServer.start({ name: 'b', host: loopback(3) });
    onTestFinished(() => b.stop());
    const { f, port } = await balancing([a.endpoint, b.endpoint]);

    // 16 transfers of 4 MiB, each paused after 256 KiB: all in flight, spread over both upstreams.
    const SIZE = 4 * 1024 * 1024;
    const first = Array.from({ length: 16 }, (_, i) => startTransfer(port, i, SIZE, 256 * 1024));
    await Promise.all(first.map((t) => t.paused));
    const placement = await Promise.all(first.map((t) => t.answered));
    expect(placement.filter((u) => u === 'a').length, `placement ${placement.join(',')}`).toBeGreaterThan(0);
    expect(placement.filter((u) => u === 'b').length, `placement ${placement.join(',')}`).toBeGreaterThan(0);

    const health = recordResource(f.state, upstreamPtr(a), (s) => s.healthy);
    onTestFinished(() => health.stop());
    const killedAt = performance.now();
    await a.stop();
    first.forEach((t) => t.resume());
    const results = await Promise.all(first.map((t) => t.done));
    // Nothing arrives corrupted; transfers on b finish; those on a were cut, each one reconnects once.
    expect(results.filter((r) => r.corruption !== undefined)).toEqual([]);
    expect(results.filter((r) => r.upstream === 'b' && !r.complete)).toEqual([]);
    const cut = results.filter((r) => r.upstream === 'a');
    expect(cut.every((r) => !r.complete && r.received >= 256 * 1024)).toBe(true);
    const retries = await Promise.all(cut.map((_, i) => startTransfer(port, 100 + i, SIZE).done));
    expect(retries.map((r) => [r.upstream, r.complete, r.error])).toEqual(cut.map(() => ['b', true, undefined]));

    const down = await eventuallyResource(f.state, upstreamPtr(a), (r) => {
      expect(r?.spec).toMatchObject({ healthy: false, lastError: expect.stringMatching(/ECONNREFUSED/) });
      return r!;
    });
    const detectedMs = (health.seen.find((s) => !s.value)?.at ?? performance.now()) - killedAt;
    await f.logs.waitFor({ component: 'loadbalancer', msg: 'upstream unhealthy', upstream: addressOf(a) });

    // No new traffic to it: new transfers all go to b, and the balancer does not even dial a.
    const dialFailures = await agentMetric(f.agent, 'kubeprism_upstream_dial_failures_total', { upstream: addressOf(a) });
    const fresh = await Promise.all(Array.from({ length: 8 }, (_, i) => startTransfer(port, 200 + i, 64 * 1024).done));
    expect(fresh.map((r) => [r.upstream, r.complete])).toEqual(fresh.map(() => ['b', true]));
    expect(await agentMetric(f.agent, 'kubeprism_upstream_dial_failures_total', { upstream: addressOf(a) })).toBe(dialFailures);
    expect(await agentMetric(f.agent, 'kubeprism_connections_failed_total')).toBe(0);

    // Restarted on the same port: healthy again by itself, and new long transfers are shared again.
    const restartedAt = performance.now();
    await a.restart();
    await eventuallyResource(f.state, upstreamPtr(a), (r) => expect(r?.spec.healthy).toBe(true));
    const backMs = performance.now() - restartedAt;
    await f.logs.waitFor({ component: 'loadbalancer', msg: 'upstream healthy', upstream: addressOf(a) });
    const again = Array.from({ length: 6 }, (_, i) => startTransfer(port, 300 + i, SIZE, 64 * 1024));
    await Promise.all(again.map((t) => t.paused));
    const placedAgain = await Promise.all(again.map((t) => t.answered));
    expect(placedAgain.filter((u) => u === 'a').length, `placement after restart ${placedAgain.join(',')}`).toBeGreaterThan(0);
    again.forEach((t) => t.resume());
    expect((await Promise.all(again.map((t) => t.done))).every((r) => r.complete)).toBe(true);
    console.info(
      `killed mid-transfer: ${cut.length}/16 transfers cut (intact up to the cut), ${retries.length} reconnects, 0 failed; ` +
        `marked down after ${detectedMs.toFixed(0)} ms (${down.spec.lastError}); healthy ${backMs.toFixed(0)} ms after restart; ` +
        `${placedAgain.filter((u) => u === 'a').length}/6 new transfers on it`,
    );
  });

  it('a black-holed upstream: marked down by check timeouts, its long-lived connections moved, new requests never hang, back when it answers again', async () => {
    const [a, b] = (await fakes(['a', 4], ['b', 5])) as [FakeApiServer, FakeApiServer];
    const { f, port } = await balancing([a.endpoint, b.endpoint]);
    const watches: Array<Awaited<ReturnType<typeof longLived>>> = [];
    for (let i = 0; i < 4; i++) watches.push(await longLived(port));
    onTestFinished(() => watches.forEach((w) => w.socket.destroy()));
    expect(watches.map((w) => w.upstream).sort()).toEqual(['a', 'a', 'b', 'b']); // least connections

    const holedAt = performance.now();
    a.blackHole = true;
    await eventuallyResource(f.state, upstreamPtr(a), (r) => expect(r?.spec).toMatchObject({ healthy: false, lastError: expect.stringMatching(/timed out/) }));
    const detectedMs = performance.now() - holedAt;
    await f.logs.waitFor({ msg: 'upstream unhealthy', upstream: addressOf(a) });
    await f.logs.waitFor({ msg: 'closing connections', upstream: addressOf(a) });
    await Promise.all(watches.filter((w) => w.upstream === 'a').map((w) => w.closed)); // moved, not left hanging
    expect(watches.filter((w) => w.upstream === 'b').every((w) => !w.socket.destroyed)).toBe(true);

    const answers = await Promise.all(Array.from({ length: 10 }, () => ask(port)));
    expect(answers).toEqual(answers.map(() => 'b'));

    const clearedAt = performance.now();
    a.blackHole = false;
    await eventuallyResource(f.state, upstreamPtr(a), (r) => expect(r?.spec.healthy).toBe(true));
    const backMs = performance.now() - clearedAt;
    const after: string[] = [];
    for (let i = 0; i < 6; i++) after.push(await ask(port)); // round robin between equals
    expect(after).toContain('a');
    console.info(`black hole: marked down after ${detectedMs.toFixed(0)} ms, its 2 long-lived connections closed, 10/10 requests answered by the other; back ${backMs.toFixed(0)} ms after it answered again`);
  });

  it('an upstream flapping every second: health follows it, clients keep working, no storm of checks or dials', async () => {
    const [flappy, steady] = (await fakes(['flappy', 6], ['steady', 7])) as [FakeApiServer, FakeApiServer];
    const { f, port } = await balancing([flappy.endpoint, steady.endpoint]);
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
    // No storms: checks keep their rhythm (one per 150 ms ± 10 %), and each outage costs at most one failed dial per client.
    const checks = (await agentMetric(f.agent, 'kubeprism_upstream_check_duration_seconds_count', { upstream: id })) - checksBefore;
    const dials = (await agentMetric(f.agent, 'kubeprism_upstream_dial_failures_total', { upstream: id })) - dialsBefore;
    expect(checks).toBeLessThanOrEqual(Math.ceil(windowMs / 135) + 3);
    expect(dials).toBeLessThanOrEqual(CYCLES * 3);
    console.info(
      `flapping (${CYCLES} × 500 ms down/up over ${windowMs.toFixed(0)} ms): ${tally.requests} requests, ${tally.retried} retried once, 0 failed ` +
        `(${tally.flappy} to flappy, ${tally.steady} to steady); health changes seen ${downs} down/${ups} up; ${checks} checks, ${dials} failed dials`,
    );
  });

  it('all upstreams down, then one back: unhealthy with reasons, connections refused meanwhile, new ones succeed once it returns', async () => {
    const [a, b] = (await fakes(['a', 8], ['b', 9])) as [FakeApiServer, FakeApiServer];
    const { f, port } = await balancing([a.endpoint, b.endpoint]);
    await Promise.all([a.stop(), b.stop()]);
    const status = await eventuallyResource(f.state, statusPtr, (r) => {
      expect(r?.spec).toMatchObject({ healthy: false, listening: true });
      expect(r?.spec.error).toMatch(/no healthy upstream/);
      for (const s of [a, b]) expect(r?.spec.error).toContain(addressOf(s));
      return r!;
    });
    await eventuallyList(f.state, kindOf(KubePrismUpstreamType), (items) =>
      expect(items.map((u) => [u.spec.healthy, /ECONNREFUSED|ECONNRESET/.test(u.spec.lastError ?? '')])).toEqual([[false, true], [false, true]]),
    );
    await f.logs.waitFor({ msg: 'upstream unhealthy', upstream: addressOf(a) });
    await f.logs.waitFor({ msg: 'upstream unhealthy', upstream: addressOf(b) });

    // Meanwhile a client is refused (every upstream tried) and told so at once, not left hanging.
    await expect(httpsGet('127.0.0.1', port, '/version', 3_000)).rejects.toThrow();
    await f.logs.waitFor({ msg: 'client connection failed' });
    expect(await agentMetric(f.agent, 'kubeprism_connections_failed_total')).toBeGreaterThanOrEqual(1);

    const restartedAt = performance.now();
    await b.restart();
    await eventuallyResource(f.state, statusPtr, (r) => expect(r?.spec).toEqual({ host: `127.0.0.1:${port}`, healthy: true, listening: true }));
    const healthyMs = performance.now() - restartedAt;
    expect(await ask(port)).toBe('b');
    const servedMs = performance.now() - restartedAt;
    await waitFor(() => f.logs.matching({ msg: 'upstream healthy', upstream: addressOf(b) }).length > 0, { description: 'b healthy in the log' });
    console.info(`all down: status "${status.spec.error}"; one back: healthy ${healthyMs.toFixed(0)} ms after its restart, first request served at ${servedMs.toFixed(0)} ms`);
  });
});
