import { finalize } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { MachineConfigType, MACHINE_CONFIG_ID, MemberType } from '../../src/resources/index.js';
import { defineResource, ptr, type Resource } from '../../src/runtime/index.js';
import { v1alpha1Config } from '../harness/configs.js';
import { call, CONFIG_SECRETS, startTestApi, type TestApi } from './helpers.js';

// One agent and API for the whole file: every case either reads, or writes Members it cleans up itself.
let t: TestApi;
beforeAll(async () => {
  t = await startTestApi();
  // Two types sharing an alias, to see the ambiguous answer.
  for (const name of ['Widgets.test.kubeprism.dev', 'Wodgets.test.kubeprism.dev']) {
    await t.agent.state.registerType(defineResource({ type: name, defaultNamespace: 'cluster', aliases: ['thing'], schema: z.object({}) }));
  }
});
afterAll(async () => t?.stop());

const member = (hostname: string, addresses = ['10.0.0.5']) => ({
  nodeId: hostname,
  hostname,
  machineType: 'controlplane',
  addresses,
  controlPlane: { apiServerPort: 6443 },
});

function errorOf(res: { json: () => unknown }): { code: string; message: string } {
  return (res.json() as { error: { code: string; message: string } }).error;
}

describe('debug API: reads', () => {
  it('answers /healthz, /v1/definitions (ResourceDefinitions resources) and /metrics', async () => {
    expect((await call(t.base, 'GET', '/healthz')).json()).toEqual({ status: 'ok' });
    const defs = (await call(t.base, 'GET', '/v1/definitions')).json() as Array<Resource<{ type: string }>>;
    expect(defs.map((d) => d.spec.type)).toContain('KubePrismStatuses.kubernetes.talos.dev');
    expect(defs.every((d) => d.metadata.type === 'ResourceDefinitions.meta.cosi.dev')).toBe(true);
    const metrics = await fetch(`${t.base}/metrics`);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    expect(await metrics.text()).toContain('kubeprism_controller_wakeups_total');
  });

  it('resolves {type} from the type, plural, singular or alias in any case', async () => {
    await t.agent.putMember('cp-1', member('cp-1') as never);
    const forms = ['Members.cluster.talos.dev', 'members', 'MEMBERS', 'member', 'Member', 'm'];
    for (const form of forms) {
      const res = await call(t.base, 'GET', `/v1/resources/${form}`);
      expect(res.status, form).toBe(200);
      expect(
        (res.json() as Resource[]).map((r) => r.metadata.id),
        form,
      ).toEqual(['cp-1']);
    }
    const one = (await call(t.base, 'GET', '/v1/resources/m/cp-1')).json() as Resource;
    expect(one.metadata).toMatchObject({ namespace: 'cluster', type: MemberType.type, id: 'cp-1' });
    await t.agent.removeMember('cp-1');
  });

  it('answers 404 listing the known types for an unknown type, 400 for an ambiguous one', async () => {
    const unknown = await call(t.base, 'GET', '/v1/resources/nosuchthing');
    expect(unknown.status).toBe(404);
    expect(errorOf(unknown).code).toBe('KP_ERR_UNKNOWN_TYPE');
    expect(errorOf(unknown).message).toContain('KubePrismStatuses.kubernetes.talos.dev');
    const ambiguous = await call(t.base, 'GET', '/v1/resources/thing');
    expect(ambiguous.status).toBe(400);
    expect(errorOf(ambiguous).code).toBe('KP_ERR_AMBIGUOUS_TYPE');
  });

  it('answers 404 for a missing resource or namespace, 400 for an id too long, 404/405 for other routes', async () => {
    const missing = await call(t.base, 'GET', '/v1/resources/members/nobody');
    expect([missing.status, errorOf(missing).code]).toEqual([404, 'KP_ERR_NOT_FOUND']);
    const ns = await call(t.base, 'GET', '/v1/resources/members?namespace=nope');
    expect([ns.status, errorOf(ns).code]).toEqual([404, 'KP_ERR_NOT_FOUND']);
    const long = await call(t.base, 'GET', `/v1/resources/members/${'a'.repeat(1025)}`);
    expect([long.status, errorOf(long).code]).toEqual([400, 'KP_ERR_BAD_REQUEST']);
    expect((await call(t.base, 'GET', '/v2/anything')).status).toBe(404);
    const wrongMethod = await call(t.base, 'POST', '/v1/resources/members');
    expect([wrongMethod.status, errorOf(wrongMethod).code]).toEqual([405, 'KP_ERR_METHOD_NOT_ALLOWED']);
    expect((await call(t.base, 'GET', '/v1/resources/%E0%A4%A')).status).toBe(400);
  });

  it('lists everything, and lists by namespace', async () => {
    const all = (await call(t.base, 'GET', '/v1/resources')).json() as Resource[];
    const types = new Set(all.map((r) => r.metadata.type));
    expect(types).toContain('MachineConfigs.config.talos.dev');
    expect(types).toContain('ResourceDefinitions.meta.cosi.dev');
    const inMeta = (await call(t.base, 'GET', '/v1/resources/ns?namespace=meta')).json() as Resource[];
    expect(inMeta.map((r) => r.metadata.id)).toEqual(expect.arrayContaining(['cluster', 'config', 'k8s', 'meta']));
  });

  it('never shows machine-config secrets: not in a list, a get, the full dump or a watch', async () => {
    const answers = [
      (await call(t.base, 'GET', '/v1/resources')).text,
      (await call(t.base, 'GET', '/v1/resources/mc')).text,
      (await call(t.base, 'GET', `/v1/resources/MachineConfigs.config.talos.dev/${MACHINE_CONFIG_ID}`)).text,
      await firstWatchLines('/v1/resources/mc?watch=1', 2),
    ];
    for (const text of answers) {
      expect(text).toContain('(redacted)');
      for (const secret of CONFIG_SECRETS) expect(text).not.toContain(secret);
    }
    // The state itself still holds them: redaction is on the way out only.
    const stored = await t.agent.state.get(ptr(MachineConfigType, MACHINE_CONFIG_ID));
    expect(JSON.stringify(stored.spec)).toContain(CONFIG_SECRETS[0]);
  });

  it('serves the controller graph as JSON and DOT; other formats are refused', async () => {
    const graph = (await call(t.base, 'GET', '/v1/graph')).json() as { controllers: Array<{ name: string }>; edges: unknown[] };
    expect(graph.controllers.map((c) => c.name)).toContain('KubePrismEndpointsController');
    const dot = await call(t.base, 'GET', '/v1/graph?format=dot');
    expect(dot.text).toMatch(/^digraph kubeprism \{/);
    expect((await call(t.base, 'GET', '/v1/graph?format=svg')).status).toBe(400);
  });
});

/** Reads a watch until `count` lines arrived, then disconnects. */
async function firstWatchLines(route: string, count: number): Promise<string> {
  const abort = new AbortController();
  const res = await fetch(`${t.base}${route}`, { signal: abort.signal });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  while (text.split('\n').length - 1 < count) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  abort.abort();
  return text;
}

/** An open watch: lines as they arrive, and a way to wait for one. */
async function openWatch(route: string) {
  const abort = new AbortController();
  const res = await fetch(`${t.base}${route}`, { signal: abort.signal });
  expect(res.headers.get('content-type')).toBe('application/x-ndjson');
  const lines: Array<{ event: string; resource?: Resource }> = [];
  const waiters = new Set<() => void>();
  const pump = (async () => {
    let buffered = '';
    try {
      for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
        buffered += chunk;
        let i: number;
        while ((i = buffered.indexOf('\n')) >= 0) {
          lines.push(JSON.parse(buffered.slice(0, i)) as { event: string; resource?: Resource });
          buffered = buffered.slice(i + 1);
        }
        for (const wake of waiters) wake();
      }
    } catch {
      // aborted
    }
  })();
  const until = (predicate: (l: typeof lines) => boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`watch lines never matched: ${JSON.stringify(lines.map((l) => [l.event, l.resource?.metadata.id]))}`)),
        5_000,
      );
      const check = (): void => {
        if (predicate(lines)) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        }
      };
      waiters.add(check);
      check();
    });
  return {
    lines,
    until,
    close: async () => {
      abort.abort();
      await pump;
    },
  };
}

describe('debug API: watch streams', () => {
  it('streams current items, bootstrapped, then live events as NDJSON; a disconnect ends the watch', async () => {
    await t.agent.putMember('w-1', member('w-1') as never);
    const teardowns = { count: 0 };
    const original = t.agent.state.watchKind.bind(t.agent.state);
    const spy = vi
      .spyOn(t.agent.state, 'watchKind')
      .mockImplementation((kind, options) => original(kind, options).pipe(finalize(() => teardowns.count++)));
    const watch = await openWatch('/v1/resources/members?watch=1');
    try {
      await watch.until((l) => l.some((x) => x.event === 'bootstrapped'));
      expect(watch.lines.map((l) => [l.event, l.resource?.metadata.id])).toEqual([
        ['created', 'w-1'],
        ['bootstrapped', undefined],
      ]);
      await t.agent.putMember('w-2', member('w-2') as never);
      await t.agent.putMember('w-2', member('w-2', ['10.0.0.6']) as never);
      await t.agent.removeMember('w-2');
      await watch.until((l) => l.some((x) => x.event === 'destroyed'));
      expect(watch.lines.slice(2).map((l) => [l.event, l.resource?.metadata.id, l.resource?.metadata.version])).toEqual([
        ['created', 'w-2', 1],
        ['updated', 'w-2', 2],
        ['updated', 'w-2', 3], // tearing down
        ['destroyed', 'w-2', 3],
      ]);
    } finally {
      await watch.close();
    }
    // The server notices the disconnect and drops its subscription.
    await vi.waitFor(() => expect(teardowns.count).toBe(1), { timeout: 5_000, interval: 20 });
    spy.mockRestore();
    await t.agent.removeMember('w-1');
  });

  it('watches one id with /{type}/{id}?watch=1', async () => {
    const watch = await openWatch('/v1/resources/members/solo?watch=1');
    try {
      await watch.until((l) => l.some((x) => x.event === 'bootstrapped'));
      await t.agent.putMember('other', member('other') as never);
      await t.agent.putMember('solo', member('solo') as never);
      await watch.until((l) => l.some((x) => x.event === 'created'));
      expect(watch.lines.map((l) => [l.event, l.resource?.metadata.id])).toEqual([
        ['bootstrapped', undefined],
        ['created', 'solo'],
      ]);
    } finally {
      await watch.close();
      await t.agent.removeMember('other');
      await t.agent.removeMember('solo');
    }
  });
});

describe('debug API: writes', () => {
  it('creates (201) and replaces (200) a member from JSON or YAML, labelled as fed by the API', async () => {
    const created = await call(t.base, 'PUT', '/v1/resources/members/cp-2', JSON.stringify({ spec: member('cp-2') }));
    expect(created.status).toBe(201);
    expect((created.json() as Resource).metadata.labels).toEqual({ 'kubeprism.dev/source': 'api' });
    const yaml =
      'metadata:\n  id: cp-2\nspec:\n  nodeId: cp-2\n  hostname: cp-2\n  machineType: init\n  addresses: [10.0.0.7]\n  controlPlane: {}\n';
    const replaced = await call(t.base, 'PUT', '/v1/resources/member/cp-2', yaml, 'application/yaml');
    expect(replaced.status).toBe(200);
    expect((replaced.json() as Resource).spec).toEqual({ ...member('cp-2', ['10.0.0.7']) });
    const removed = await call(t.base, 'DELETE', '/v1/resources/members/cp-2');
    expect(removed.status).toBe(200);
    expect((await call(t.base, 'DELETE', '/v1/resources/members/cp-2')).status).toBe(404);
  });

  it('refuses bad member writes with a 4xx and a reason, and stores nothing', async () => {
    const put = (body: string, id = 'bad-1', type = 'application/json') => call(t.base, 'PUT', `/v1/resources/members/${id}`, body, type);
    const cases: Array<[string, Awaited<ReturnType<typeof put>>, number, string]> = [
      ['malformed JSON', await put('{"spec": '), 400, 'KP_ERR_BAD_REQUEST'],
      ['malformed YAML', await put('spec: [unclosed', 'bad-1', 'application/yaml'), 400, 'KP_ERR_BAD_REQUEST'],
      ['no spec', await put('{"metadata": {}}'), 400, 'KP_ERR_BAD_REQUEST'],
      ['not an object', await put('[1, 2]'), 400, 'KP_ERR_BAD_REQUEST'],
      ['extra field', await put(JSON.stringify({ spec: member('bad-1'), status: {} })), 400, 'KP_ERR_BAD_REQUEST'],
      ['id mismatch', await put(JSON.stringify({ metadata: { id: 'other' }, spec: member('bad-1') })), 400, 'KP_ERR_BAD_REQUEST'],
      ['schema', await put(JSON.stringify({ spec: { ...member('bad-1'), addresses: ['not-an-ip'] } })), 400, 'KP_ERR_VALIDATION'],
      ['invalid id', await put(JSON.stringify({ spec: member('x') }), 'line%0Abreak'), 400, 'KP_ERR_BAD_REQUEST'],
      ['id too long', await put(JSON.stringify({ spec: member('x') }), 'a'.repeat(1025)), 400, 'KP_ERR_BAD_REQUEST'],
      ['empty body', await put(''), 400, 'KP_ERR_BAD_REQUEST'],
      [
        'YAML JSON cannot carry',
        await put('spec:\n  hostname: !!binary aGk=\n  addresses: [.inf]\n', 'bad-1', 'application/yaml'),
        400,
        'KP_ERR_BAD_REQUEST',
      ],
      ['recursive alias', await put('spec: &s\n  self: *s\n', 'bad-1', 'application/yaml'), 400, 'KP_ERR_BAD_REQUEST'],
      ['two documents', await put('spec: {}\n---\nspec: {}\n', 'bad-1', 'application/yaml'), 400, 'KP_ERR_BAD_REQUEST'],
    ];
    for (const [name, res, status, code] of cases) {
      expect([name, res.status, errorOf(res).code]).toEqual([name, status, code]);
    }
    const schema = cases.find(([name]) => name === 'schema')?.[1];
    expect((schema?.json() as { error: { issues: unknown } }).error.issues).toEqual([
      { path: 'spec.addresses.0', message: expect.any(String) },
    ]);
    const nonJson = cases.find(([name]) => name === 'YAML JSON cannot carry')?.[1];
    expect((nonJson?.json() as { error: { issues: Array<{ path: string }> } }).error.issues.map((i) => i.path)).toEqual([
      'spec.hostname',
      'spec.addresses.0',
    ]);
    expect(await t.agent.state.list({ namespace: 'cluster', type: MemberType.type })).toEqual([]);
  });

  it('refuses a body over the size limit with 413', async () => {
    const big = JSON.stringify({ spec: { ...member('big'), hostname: 'x'.repeat(1024 * 1024 + 10) } });
    const res = await call(t.base, 'PUT', '/v1/resources/members/big', big);
    expect([res.status, errorOf(res).code]).toEqual([413, 'KP_ERR_BODY_TOO_LARGE']);
    expect((await call(t.base, 'GET', '/healthz')).status).toBe(200);
  });

  it('answers 403 naming the owner for types the controllers or the config source own', async () => {
    const kpc = await call(t.base, 'PUT', '/v1/resources/kubeprismconfigs/k8s-loadbalancer-config', JSON.stringify({ spec: {} }));
    expect([kpc.status, errorOf(kpc).code]).toEqual([403, 'KP_ERR_FORBIDDEN']);
    expect(errorOf(kpc).message).toContain('KubePrismConfigController');
    const mc = await call(t.base, 'DELETE', '/v1/resources/mc/v1alpha1');
    expect(mc.status).toBe(403);
    expect(errorOf(mc).message).toContain('MachineConfigSource');
    expect(errorOf(mc).message).toContain('PUT /v1/config');
  });
});

describe('debug API: PUT /v1/config', () => {
  it('applies a good config (200), reports no change for the same one, and rejects a bad one (400 with paths) changing nothing', async () => {
    const good = v1alpha1Config({ clusterName: 'api-applied', kubePrism: { enabled: false } });
    const applied = await call(t.base, 'PUT', '/v1/config', good, 'application/yaml');
    expect(applied.status).toBe(200);
    const first = applied.json() as { applied: boolean; changed: boolean; version: number };
    expect(first).toMatchObject({ applied: true, changed: true });
    expect((await call(t.base, 'PUT', '/v1/config', good, 'application/yaml')).json()).toEqual({ ...first, changed: false });

    const bad = v1alpha1Config({ kubePrism: { enabled: true, port: 74450 } });
    const rejected = await call(t.base, 'PUT', '/v1/config', bad, 'application/yaml');
    expect(rejected.status).toBe(400);
    expect(rejected.json()).toEqual({ errors: [{ path: 'machine.features.kubePrism.port', message: expect.any(String) }] });
    const garbage = await call(t.base, 'PUT', '/v1/config', '{{{ not yaml', 'application/yaml');
    expect(garbage.status).toBe(400);
    expect((garbage.json() as { errors: unknown[] }).errors.length).toBeGreaterThan(0);
    const stored = await t.agent.state.get(ptr(MachineConfigType, MACHINE_CONFIG_ID));
    expect(stored.metadata.version).toBe(first.version);
  });
});
