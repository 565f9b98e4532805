import { describe, expect, it, onTestFinished } from 'vitest';
import { eventuallyResource } from '../harness/eventually.js';
import { randomLoopback } from '../harness/ports.js';
import { agentMetric, recordResource, within } from './fixture.js';
import { StreamApiServer, startTransfer, type Transfer } from './stream-api-server.js';
import { addressOf, balancing, upstreamPtr, usableAsOthers } from './upstream-fixture.js';

// An upstream killed in the middle of long transfers (like API watch and list streams), against an
// in-process agent on the real balancer (readyz every 500 ms, 400 ms timeout: generous, so a busy test
// machine does not fail checks of its own accord). Figures are printed for the report.

const SIZE = 4 * 1024 * 1024;

describe('reliability: an upstream killed mid-transfer', () => {
  it('its clients reconnect to the other, no new traffic goes to it, it returns after a restart', async () => {
    const servers: StreamApiServer[] = [];
    // One of them is restarted on its port: on addresses of their own, where nothing else can take it meanwhile.
    for (const name of ['a', 'b']) {
      const server = await StreamApiServer.start({ name, host: randomLoopback() });
      onTestFinished(() => server.stop());
      servers.push(server);
    }
    const [a, b] = servers as [StreamApiServer, StreamApiServer];
    const { f, port } = await balancing([a.endpoint, b.endpoint], { intervalMs: 500, timeoutMs: 400 });
    await usableAsOthers(f, a.endpoint, b.endpoint);
    await usableAsOthers(f, b.endpoint, a.endpoint);
    const where = (ts: Transfer[]) => () => ts.map((t) => t.progress());

    // 16 transfers of 4 MiB, each paused after 256 KiB: all in flight. The busier upstream is killed.
    const first = Array.from({ length: 16 }, (_, i) => startTransfer(port, i, SIZE, 256 * 1024));
    await within(Promise.all(first.map((t) => t.paused)), 10_000, '16 transfers paused after 256 KiB', where(first));
    const placement = await Promise.all(first.map((t) => t.answered));
    const onA = placement.filter((u) => u === 'a').length;
    const [victim, survivor] = onA >= 8 ? [a, b] : [b, a];

    const health = recordResource(f.state, upstreamPtr(victim.endpoint), (s) => s.healthy);
    onTestFinished(() => health.stop());
    const killedAt = performance.now();
    await victim.stop();
    first.forEach((t) => t.resume());
    const results = await within(Promise.all(first.map((t) => t.done)), 15_000, 'the 16 transfers to end after the kill', where(first));
    // Nothing arrives corrupted; transfers on the survivor finish; those on the victim were cut, and each reconnects once.
    expect(results.filter((r) => r.corruption !== undefined)).toEqual([]);
    expect(results.filter((r) => r.upstream === survivor.name && !r.complete)).toEqual([]);
    const cut = results.filter((r) => r.upstream === victim.name);
    expect(cut.every((r) => !r.complete && r.received >= 256 * 1024)).toBe(true);
    const reconnects = cut.map((_, i) => startTransfer(port, 100 + i, SIZE));
    const retries = await within(Promise.all(reconnects.map((t) => t.done)), 15_000, 'the reconnected transfers', where(reconnects));
    expect(retries.map((r) => [r.upstream, r.complete, r.error])).toEqual(cut.map(() => [survivor.name, true, undefined]));

    const down = await eventuallyResource(f.state, upstreamPtr(victim.endpoint), (r) => {
      expect(r?.spec).toMatchObject({ healthy: false, lastError: expect.stringMatching(/ECONNREFUSED|ECONNRESET/) });
      return r!;
    });
    const detectedMs = (health.seen.find((s) => !s.value)?.at ?? performance.now()) - killedAt;
    await f.logs.waitFor({ component: 'loadbalancer', msg: 'upstream unhealthy', upstream: addressOf(victim.endpoint) });

    // No new traffic to it: new transfers all go to the survivor, and the balancer does not even dial it.
    const dials = (): Promise<number> =>
      agentMetric(f.agent, 'kubeprism_upstream_dial_failures_total', { upstream: addressOf(victim.endpoint) });
    const dialFailures = await dials();
    const newOnes = Array.from({ length: 8 }, (_, i) => startTransfer(port, 200 + i, 64 * 1024));
    const fresh = await within(Promise.all(newOnes.map((t) => t.done)), 10_000, 'new transfers while it is down', where(newOnes));
    expect(fresh.map((r) => [r.upstream, r.complete])).toEqual(fresh.map(() => [survivor.name, true]));
    expect(await dials()).toBe(dialFailures);
    expect(await agentMetric(f.agent, 'kubeprism_connections_failed_total')).toBe(0);

    // Restarted on the same port: healthy again by itself, and new transfers reach it again.
    const restartedAt = performance.now();
    await victim.restart();
    await eventuallyResource(f.state, upstreamPtr(victim.endpoint), (r) => expect(r?.spec.healthy).toBe(true));
    const backMs = performance.now() - restartedAt;
    await f.logs.waitFor({ component: 'loadbalancer', msg: 'upstream healthy', upstream: addressOf(victim.endpoint) });
    await usableAsOthers(f, victim.endpoint, survivor.endpoint);
    const again = Array.from({ length: 6 }, (_, i) => startTransfer(port, 300 + i, SIZE, 64 * 1024));
    await within(Promise.all(again.map((t) => t.paused)), 10_000, 'transfers after the restart paused', where(again));
    const placedAgain = await Promise.all(again.map((t) => t.answered));
    expect(placedAgain, 'placement after the restart').toContain(victim.name);
    again.forEach((t) => t.resume());
    expect(
      (await within(Promise.all(again.map((t) => t.done)), 15_000, 'transfers after the restart', where(again))).every((r) => r.complete),
    ).toBe(true);
    console.info(
      `killed mid-transfer: ${cut.length}/16 transfers cut (intact up to the cut), ${retries.length} reconnects, 0 failed; ` +
        `marked down after ${detectedMs.toFixed(0)} ms (${down.spec.lastError}); healthy ${backMs.toFixed(0)} ms after restart; ` +
        `${placedAgain.filter((u) => u === victim.name).length}/6 new transfers on it`,
    );
  });
});
