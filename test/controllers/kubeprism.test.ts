import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { balancerOptions, kubePrismController } from '../../src/controllers/index.js';
import { loadBalancerOptionsSchema } from '../../src/loadbalancer/options.js';
import { LoadBalancer } from '../../src/loadbalancer/load-balancer.js';
import { BALANCER_DEFAULTS, balancerSettingsSchema } from '../../src/loadbalancer/settings.js';
import {
  KUBEPRISM_CONFIG_ID,
  KUBEPRISM_ENDPOINTS_ID,
  KUBEPRISM_STATUS_ID,
  KubePrismConfigType,
  KubePrismEndpointsType,
  KubePrismStatusType,
  KubePrismUpstreamType,
  registerKubeprismTypes,
  type KubePrismEndpoint,
  type SpecOfKubePrismConfig,
} from '../../src/resources/index.js';
import { createState, Engine, kindOf, ptr, type State } from '../../src/runtime/index.js';
import { eventuallyList, eventuallyResource } from '../harness/eventually.js';
import { FakeApiServer, httpsGet } from '../harness/fake-apiserver.js';
import { connectTo, fixedPort, occupyPort } from '../harness/ports.js';

// Every upstream object the balancer creates is counted: one per new address, none per wake-up.
const upstreams = vi.hoisted(() => ({ created: 0 }));
vi.mock('../../src/loadbalancer/socket-upstream.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/loadbalancer/socket-upstream.js')>();
  class CountedUpstream extends original.SocketUpstream {
    constructor(...args: ConstructorParameters<typeof original.SocketUpstream>) {
      super(...args);
      upstreams.created++;
    }
  }
  return { ...original, SocketUpstream: CountedUpstream };
});

const configPtr = ptr(KubePrismConfigType, KUBEPRISM_CONFIG_ID);
const endpointsPtr = ptr(KubePrismEndpointsType, KUBEPRISM_ENDPOINTS_ID);
const statusPtr = ptr(KubePrismStatusType, KUBEPRISM_STATUS_ID);

let state: State;
let engine: Engine;
const servers: FakeApiServer[] = [];

beforeEach(async () => {
  state = await createState();
  await registerKubeprismTypes(state);
  engine = new Engine(state, { backoff: { initialMs: 10, maxMs: 100, multiplier: 2, jitter: 0 } });
  engine.register(
    kubePrismController({ drainTimeoutMs: 200, connectionRefreshMs: 100, balancer: { listenBackoff: { initialMs: 20, maxMs: 100 } } }),
  );
  engine.start();
});

afterEach(async () => {
  vi.restoreAllMocks();
  await engine.stop();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

// Upstream resources are fed by these tests as the config and endpoints controllers would.
function setConfig(port: number, extra: Partial<SpecOfKubePrismConfig> = {}) {
  return state.modify(
    configPtr,
    (d) => {
      d.spec = {
        host: '127.0.0.1',
        port,
        listenAddresses: ['127.0.0.1'],
        ...BALANCER_DEFAULTS,
        healthCheck: { mode: 'readyz', intervalMs: 100, timeoutMs: 80, jitter: 0.1 },
        maxConnections: 100,
        ...extra,
      };
    },
    { owner: 'KubePrismConfigController' },
  );
}

function setEndpoints(list: FakeApiServer[]) {
  const endpoints: KubePrismEndpoint[] = list.map((s) => ({ host: s.host, port: s.port, source: 'member', member: s.name }));
  return state.modify(endpointsPtr, (d) => void (d.spec = { endpoints }), { owner: 'KubePrismEndpointsController' });
}

async function startServers(...hosts: string[]): Promise<FakeApiServer[]> {
  const started = await Promise.all(hosts.map((host, i) => FakeApiServer.start({ name: `api-${i + 1}`, host })));
  servers.push(...started);
  return started;
}

describe('KubePrismController', () => {
  it('listens once enabled, forwards to healthy upstreams and mirrors them into resources', async () => {
    const [a, b] = await startServers('127.0.0.2', '127.0.0.3');
    const port = await fixedPort();
    await setEndpoints([a!, b!]);
    await setConfig(port);
    await eventuallyResource(state, statusPtr, (r) =>
      expect(r?.spec).toEqual({ host: `127.0.0.1:${port}`, healthy: true, listening: true }),
    );
    await eventuallyList(state, kindOf(KubePrismUpstreamType), (items) =>
      expect(items.map((u) => [u.metadata.id, u.spec.healthy, u.spec.tier < 5])).toEqual([
        [`127.0.0.2:${a!.port}`, true, true],
        [`127.0.0.3:${b!.port}`, true, true],
      ]),
    );
    const answer = await httpsGet('127.0.0.1', port, '/version');
    expect(['api-1', 'api-2']).toContain(JSON.parse(answer.body).name);
    expect((await state.get(statusPtr)).metadata.owner).toBe('KubePrismController');
  });

  it('keeps the status version still while nothing changes, across many health checks', async () => {
    const [a] = await startServers('127.0.0.2');
    a!.latencyMs = 30; // mid-tier (10-100 ms): check-to-check jitter cannot move it across a tier bound
    const port = await fixedPort();
    await setEndpoints([a!]);
    await setConfig(port);
    const settled = await eventuallyResource(state, ptr(KubePrismUpstreamType, `127.0.0.2:${a!.port}`), (r) => {
      expect(r?.spec).toMatchObject({ score: 5, tier: 3 }); // the best score: further good checks change nothing
      return r!;
    });
    const status = await state.get(statusPtr);
    const checksBefore = a!.requestCount('/readyz');
    await new Promise<void>((resolve) => a!.on('request', () => a!.requestCount('/readyz') >= checksBefore + 5 && resolve()));
    expect((await state.get(statusPtr)).metadata.version).toBe(status.metadata.version);
    const after = await state.get(settled.metadata);
    expect(after.spec).toEqual(settled.spec);
    expect(after.metadata.version).toBe(settled.metadata.version);
  });

  it('reports a taken port, retries, and listens once it is freed; moves with a port change', async () => {
    const [a] = await startServers('127.0.0.2');
    const port = await fixedPort();
    const squatter = await occupyPort('127.0.0.1', port);
    await setEndpoints([a!]);
    await setConfig(port);
    await eventuallyResource(state, statusPtr, (r) => {
      expect(r?.spec.listening).toBe(false);
      expect(r?.spec.error).toMatch(new RegExp(`127.0.0.1:${port}.*(EADDRINUSE|in use)`));
    });
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    await eventuallyResource(state, statusPtr, (r) => expect(r?.spec).toMatchObject({ listening: true, healthy: true }));
    expect((await state.get(statusPtr)).spec.error).toBeUndefined();

    const next = await fixedPort();
    await setConfig(next);
    await eventuallyResource(state, statusPtr, (r) => expect(r?.spec).toMatchObject({ host: `127.0.0.1:${next}`, listening: true }));
    await expect(connectTo('127.0.0.1', port)).rejects.toThrow(/ECONNREFUSED/);
    expect(JSON.parse((await httpsGet('127.0.0.1', next, '/version')).body).name).toBe('api-1');
  });

  it('keeps survivors when the endpoint list changes, and says when there are no endpoints', async () => {
    const [a, b] = await startServers('127.0.0.2', '127.0.0.3');
    const port = await fixedPort();
    await setEndpoints([a!, b!]);
    await setConfig(port);
    const survivor = await eventuallyResource(state, ptr(KubePrismUpstreamType, `127.0.0.2:${a!.port}`), (r) => {
      expect(r?.spec.score).toBe(5);
      return r!;
    });
    await setEndpoints([a!]);
    await eventuallyList(state, kindOf(KubePrismUpstreamType), (items) =>
      expect(items.map((u) => u.metadata.id)).toEqual([`127.0.0.2:${a!.port}`]),
    );
    expect((await state.get(ptr(KubePrismUpstreamType, survivor.metadata.id))).spec.score).toBe(5); // health state kept, not re-learnt
    await setEndpoints([]);
    await eventuallyResource(state, statusPtr, (r) =>
      expect(r?.spec).toMatchObject({ healthy: false, listening: true, error: 'no upstream endpoints' }),
    );
  });

  it('passes the first-byte timeout on: a black hole still judged healthy is left after it, and the upstream says why', async () => {
    const [hole, b] = await startServers('127.0.0.2', '127.0.0.3');
    for (const s of [hole!, b!]) s.latencyMs = 30; // one tier for both, so the hole gets its turn
    const port = await fixedPort();
    await setEndpoints([hole!, b!]);
    await setConfig(port, { healthCheck: { mode: 'readyz', intervalMs: 60_000, timeoutMs: 1_000, jitter: 0.1 }, firstByteTimeoutMs: 150 });
    await eventuallyList(state, kindOf(KubePrismUpstreamType), (items) => expect(items.map((u) => u.spec.healthy)).toEqual([true, true]));
    hole!.blackHole = true;
    for (let i = 0; i < 2; i++) expect(JSON.parse((await httpsGet('127.0.0.1', port, '/version')).body).name).toBe('api-2');
    await eventuallyResource(state, ptr(KubePrismUpstreamType, `127.0.0.2:${hole!.port}`), (r) =>
      expect(r?.spec).toMatchObject({ healthy: false, lastError: 'no answer within 150 ms' }),
    );
  });

  it('closes the listener and removes its resources when KubePrism is disabled', async () => {
    const [a] = await startServers('127.0.0.2');
    const port = await fixedPort();
    await setEndpoints([a!]);
    await setConfig(port);
    await eventuallyResource(state, statusPtr, (r) => expect(r?.spec.healthy).toBe(true));
    const client = await connectTo('127.0.0.1', port);
    const ended = new Promise((resolve) => client.once('end', resolve));
    await state.teardownAndDestroy(configPtr, { owner: 'KubePrismConfigController' });
    await eventuallyResource(state, statusPtr, (r) => expect(r).toBeUndefined());
    await eventuallyList(state, kindOf(KubePrismUpstreamType), (items) => expect(items).toEqual([]));
    await expect(connectTo('127.0.0.1', port)).rejects.toThrow(/ECONNREFUSED/);
    await ended; // drained within drainTimeoutMs, then closed by the proxy
    client.destroy();
  });

  it('hands the balancer nothing on a wake-up where nothing changed: no options, no list, no new upstream objects', async () => {
    const applyOptions = vi.spyOn(LoadBalancer.prototype, 'applyOptions');
    const setUpstreams = vi.spyOn(LoadBalancer.prototype, 'setUpstreams');
    const configure = vi.spyOn(LoadBalancer.prototype, 'configure');
    const [a, b, c] = await startServers('127.0.0.2', '127.0.0.3', '127.0.0.4');
    const port = await fixedPort();
    await setEndpoints([a!, b!]);
    await setConfig(port);
    await eventuallyResource(state, statusPtr, (r) => expect(r?.spec).toMatchObject({ listening: true, healthy: true }));
    await engine.settled();
    const createdBefore = upstreams.created;
    expect([applyOptions.mock.calls.length, setUpstreams.mock.calls.length]).toEqual([1, 1]);
    const wakeups = (): number => engine.stats().find((s) => s.name === 'KubePrismController')?.wakeups ?? 0;
    const wakeupsBefore = wakeups();

    // Both inputs get a new version with the same spec (an annotation changes): the controller wakes, and does nothing.
    const touch = (d: { annotations: Record<string, string> }): void => void (d.annotations['test/touched'] = 'yes');
    await state.modify(configPtr, touch, { owner: 'KubePrismConfigController' });
    await state.modify(endpointsPtr, touch, { owner: 'KubePrismEndpointsController' });
    await engine.settled();
    expect(wakeups()).toBeGreaterThan(wakeupsBefore);
    expect([applyOptions.mock.calls.length, setUpstreams.mock.calls.length, configure.mock.calls.length]).toEqual([1, 1, 0]);
    expect(upstreams.created).toBe(createdBefore);

    // One setting changes: the options are applied once, as values (no re-parse through configure).
    await setConfig(port, { maxConnections: 50 });
    await engine.settled();
    expect(applyOptions.mock.calls.length).toBe(2);
    expect(applyOptions.mock.calls[1]?.[0]).toMatchObject({ maxConnections: 50, listen: { host: '127.0.0.1', port } });
    expect([setUpstreams.mock.calls.length, configure.mock.calls.length]).toEqual([1, 0]);

    // One endpoint is added: one new upstream object, the two known ones kept.
    await setEndpoints([a!, b!, c!]);
    await eventuallyList(state, kindOf(KubePrismUpstreamType), (items) => expect(items).toHaveLength(3));
    expect(setUpstreams.mock.calls.length).toBe(2);
    expect(upstreams.created).toBe(createdBefore + 1);
  });
});

describe('balancerOptions', () => {
  it('passes every setting of the spec through as it is, around the listen fields, as valid options', () => {
    const spec: SpecOfKubePrismConfig = {
      host: '127.0.0.1',
      port: 7500,
      listenAddresses: ['127.0.0.1', '::1'],
      tlsServerName: 'api.example.com',
      ...BALANCER_DEFAULTS,
      healthCheck: { mode: 'tls', intervalMs: 700, timeoutMs: 300, jitter: 0 },
      maxConnections: 3,
    };
    const options = balancerOptions(spec, 1234);
    for (const key of balancerSettingsSchema.keyof().options) expect(options[key], key).toEqual(spec[key]);
    expect(options).toMatchObject({
      listen: { host: '127.0.0.1', port: 7500, ipv6: true },
      tlsServerName: 'api.example.com',
      drainTimeoutMs: 1234,
    });
    expect(loadBalancerOptionsSchema.parse(options)).toEqual(options);
  });
});
