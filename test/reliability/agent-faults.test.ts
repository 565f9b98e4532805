import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  KUBELET_ID,
  KUBEPRISM_STATUS_ID,
  KubeletConfigType,
  KubePrismStatusType,
  KubePrismUpstreamType,
  MachineConfigType,
  upstreamId,
} from '../../src/resources/index.js';
import { ControllerStatusType, inputOf, kindOf, ptr, type Controller, type WatchEvent } from '../../src/runtime/index.js';
import { eventually, eventuallyList, eventuallyResource, fileChanges } from '../harness/eventually.js';
import { FakeApiServer, whoAnswers } from '../harness/fake-apiserver.js';
import { closeServer, fixedPort, loopback, occupyPort } from '../harness/ports.js';
import { balancedConfig, recordResource, startAgent } from './fixture.js';

// Faults of the agent's own surroundings (in-process agent, real balancer): its port taken by someone
// else at start, and an embedder's controller that keeps throwing. The agent keeps running, says what is
// wrong in a resource and a log line, and recovers by itself.

const statusPtr = ptr(KubePrismStatusType, KUBEPRISM_STATUS_ID);

async function fakeApi(n: number): Promise<FakeApiServer> {
  const server = await FakeApiServer.start({ name: `api-${n}`, host: loopback(n), latencyMs: 30 });
  onTestFinished(() => server.stop());
  return server;
}

describe('reliability: the agent around its balancer', () => {
  it('the KubePrism port taken at start, then freed: error naming the port, retries, listens, kubeconfigs switch only once it listens', async () => {
    const api = await fakeApi(10);
    const port = await fixedPort();
    const squatter = await occupyPort('127.0.0.1', port);
    onTestFinished(() => closeServer(squatter));
    // Status and kubelet config changes in the order they were written, from their first versions on.
    const order: string[] = [];
    const f = await startAgent({
      config: balancedConfig({ port, endpoint: api.endpoint }),
      beforeStart: (agent) => {
        const note = (label: (spec: never) => string) => (event: WatchEvent) => {
          if (event.type === 'created' || event.type === 'updated') order.push(label(event.resource.spec as never));
        };
        const subscriptions = [
          agent.state
            .watchKind(kindOf(KubePrismStatusType))
            .subscribe(note((s: { listening: boolean }) => `status listening=${s.listening}`)),
          agent.state.watchKind(kindOf(KubeletConfigType)).subscribe(note((s: { server: string }) => `kubelet ${s.server}`)),
        ];
        onTestFinished(() => subscriptions.forEach((s) => s.unsubscribe()));
      },
    });
    onTestFinished(() => f.stop());
    const fallback = `https://${api.host}:${api.port}`;
    const prism = `https://127.0.0.1:${port}`;

    await eventuallyResource(f.state, statusPtr, (r) => {
      expect(r?.spec.listening).toBe(false);
      expect(r?.spec.error).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}.*EADDRINUSE`));
    });
    // It keeps retrying with a growing, bounded backoff (50 ms doubling to 400 ms here), and nothing else stops:
    const retryLines = await f.logs.waitForCount(
      { component: 'loadbalancer-listener', msg: 'listen failed; retrying', address: `127.0.0.1:${port}` },
      5,
    );
    const retries = retryLines.map((l) => l.retryInMs);
    expect(retries.slice(0, 5)).toEqual([50, 100, 200, 400, 400]);
    await eventuallyResource(f.state, ptr(KubePrismUpstreamType, upstreamId(api.host, api.port)), (r) =>
      expect(r?.spec.healthy).toBe(true),
    );
    const kubelet = await eventuallyResource(f.state, ptr(KubeletConfigType, KUBELET_ID), (r) => {
      expect(r?.spec.server).toBe(fallback);
      return r!;
    });
    const onDisk = async (): Promise<string> =>
      parse(await readFile(kubelet.spec.kubeconfigPath, 'utf8')).clusters[0].cluster.server as string;
    await eventually(fileChanges(f.dir), async () => expect(await onDisk()).toBe(fallback));
    expect(order.filter((o) => o === `kubelet ${prism}`)).toEqual([]);

    const freedAt = performance.now();
    await closeServer(squatter);
    await eventuallyResource(f.state, statusPtr, (r) =>
      expect(r?.spec).toEqual({ host: `127.0.0.1:${port}`, healthy: true, listening: true }),
    );
    const listeningMs = performance.now() - freedAt;
    await f.logs.waitFor({ component: 'loadbalancer-listener', msg: 'listening', address: `127.0.0.1:${port}` });
    expect(await whoAnswers('127.0.0.1', port)).toBe('api-10');
    await eventuallyResource(f.state, ptr(KubeletConfigType, KUBELET_ID), (r) => expect(r?.spec.server).toBe(prism));
    await eventually(fileChanges(f.dir), async () => expect(await onDisk()).toBe(prism));
    // The kubelet was pointed at KubePrism only after the status said it listens.
    const listening = order.indexOf('status listening=true');
    const switched = order.indexOf(`kubelet ${prism}`);
    expect(listening, order.join(' → ')).toBeGreaterThanOrEqual(0);
    expect(switched, order.join(' → ')).toBeGreaterThan(listening);
    console.info(
      `port taken: ${retries.length} bind retries (backoff ${retries.slice(0, 5).join(', ')} ms…); listening ${listeningMs.toFixed(0)} ms after the port was freed; order ${order.join(' → ')}`,
    );
  });

  it("an embedder's controller that throws repeatedly: crashes and backoff in ControllerStatuses, backoff grows and is bounded, the rest unaffected", async () => {
    const api = await fakeApi(11);
    let failing = true;
    const starts: number[] = [];
    const flaky: Controller = {
      name: 'EmbedderFlakyController',
      inputs: () => [inputOf(MachineConfigType)],
      outputs: () => [],
      async run(ctx) {
        starts.push(performance.now());
        while (await ctx.nextEvent()) {
          if (failing) throw new Error(`flaky failure #${starts.length}`);
        }
      },
    };
    const backoff = { initialMs: 20, maxMs: 320, multiplier: 2, jitter: 0 };
    const port = await fixedPort();
    let watched: ReturnType<typeof recordResource<{ backingOff: boolean }, boolean>> | undefined;
    const f = await startAgent({
      config: balancedConfig({ port, endpoint: api.endpoint }),
      controllers: [flaky],
      backoff,
      beforeStart: (agent) =>
        (watched = recordResource(agent.state, ptr(ControllerStatusType, flaky.name), (s: { backingOff: boolean }) => s.backingOff)),
    });
    onTestFinished(() => f.stop());
    onTestFinished(() => watched?.stop());
    const crashes = (): Array<number | undefined> =>
      f.logs
        .matching({ component: flaky.name, msg: 'controller failed; restarting after backoff' })
        .map((l) => l.delayMs as number | undefined);

    // While it crash-loops, the balancer serves and a config change goes all the way to a moved listener.
    await eventuallyResource(f.state, statusPtr, (r) => expect(r?.spec).toMatchObject({ listening: true, healthy: true }));
    expect(await whoAnswers('127.0.0.1', port)).toBe('api-11');
    const moved = await fixedPort();
    expect(await f.agent.applyConfig(balancedConfig({ port: moved, endpoint: api.endpoint }))).toMatchObject({
      applied: true,
      changed: true,
    });
    await eventuallyResource(f.state, statusPtr, (r) =>
      expect(r?.spec).toMatchObject({ host: `127.0.0.1:${moved}`, listening: true, healthy: true }),
    );
    expect(await whoAnswers('127.0.0.1', moved)).toBe('api-11');

    await f.logs.waitFor({ component: flaky.name, msg: 'controller failed; restarting after backoff', crashes: 8 });
    expect(crashes().slice(0, 8)).toEqual([20, 40, 80, 160, 320, 320, 320, 320]);
    // Each restart really waited its delay.
    const gaps = starts.slice(1, 9).map((t, i) => t - (starts[i] as number));
    gaps.forEach((gap, i) =>
      expect(gap, `gap ${i}: ${gaps.map((g) => g.toFixed(0)).join(', ')}`).toBeGreaterThanOrEqual((crashes()[i] ?? 0) - 2),
    );
    await eventuallyResource(f.state, ptr(ControllerStatusType, flaky.name), (r) => {
      expect(r?.spec.crashes).toBeGreaterThanOrEqual(8);
      expect(r?.spec.consecutiveFailures).toBeGreaterThanOrEqual(8);
      expect(r?.spec.lastError).toMatch(/^flaky failure #\d+$/);
    });
    expect(watched?.seen.filter((s) => s.value).length).toBeGreaterThanOrEqual(8);
    const others = (await f.state.list(kindOf(ControllerStatusType))).filter((c) => c.metadata.id !== flaky.name);
    expect(others.length).toBeGreaterThanOrEqual(6);
    expect(others.filter((c) => c.spec.crashes > 0).map((c) => c.metadata.id)).toEqual([]);

    // The fault clears: the next restart runs a good round and the status says it recovered.
    failing = false;
    await eventuallyResource(f.state, ptr(ControllerStatusType, flaky.name), (r) =>
      expect(r?.spec).toMatchObject({ consecutiveFailures: 0, backingOff: false, crashes: expect.any(Number) }),
    );
    const total = (await f.state.get(ptr(ControllerStatusType, flaky.name))).spec.crashes;
    await eventuallyList(f.state, kindOf(KubePrismStatusType), (items) => expect(items.map((s) => s.spec.healthy)).toEqual([true]));
    console.info(
      `throwing controller: ${total} crashes, restart delays ${crashes().join(', ')} ms (bounded at ${backoff.maxMs}), recovered by itself; balancer and config chain unaffected`,
    );
  });
});
