import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { firstValueFrom, take, toArray } from 'rxjs';
import {
  abbreviate,
  AmbiguousTypeError,
  createState,
  defineResource,
  kindOf,
  NamespaceType,
  ptr,
  readColumn,
  redacted,
  RegistrationError,
  ResourceDefinitionType,
  singularize,
  UnknownTypeError,
  ValidationError,
} from '../../src/runtime/index.js';

const Endpoints = defineResource({
  type: 'KubePrismEndpoints.kubernetes.talos.dev',
  defaultNamespace: 'k8s',
  schema: z.object({
    endpoints: z.array(z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535) })),
  }),
  printColumns: [{ name: 'Count', jsonPath: '{.endpoints}' }],
});

const Statuses = defineResource({
  type: 'KubePrismStatuses.kubernetes.talos.dev',
  defaultNamespace: 'k8s',
  schema: z.object({ healthy: z.boolean().default(false) }),
});

const Secrets = defineResource({
  type: 'MachineConfigs.config.talos.dev',
  defaultNamespace: 'config',
  sensitivity: 'sensitive',
  schema: z.object({ token: z.string() }),
  redact: (spec) => ({ token: spec.token.replace(/./g, '*') }),
});

describe('resource definitions', () => {
  it.each([
    ['KubePrismStatuses', 'KubePrismStatus', 'kps'],
    ['KubePrismConfigs', 'KubePrismConfig', 'kpc'],
    ['MachineConfigStatuses', 'MachineConfigStatus', 'mcs'],
    ['ResourceDefinitions', 'ResourceDefinition', 'rd'],
    ['Policies', 'Policy', 'p'],
    ['Addresses', 'Address', 'a'],
    ['Namespaces', 'Namespace', 'n'],
    ['Members', 'Member', 'm'],
  ])('%s → singular %s, abbreviation %s', (plural, singular, abbreviation) => {
    expect(singularize(plural)).toBe(singular);
    expect(abbreviate(plural)).toBe(abbreviation);
  });

  it('derives aliases once', () => {
    expect(Statuses.plural).toBe('KubePrismStatuses');
    expect(Statuses.displayType).toBe('KubePrismStatus');
    expect(Statuses.aliases).toEqual(['kubeprismstatus', 'kps']);
  });

  it.each([
    'kubePrismStatuses.kubernetes.talos.dev',
    'KubePrismConfig.kubernetes.talos.dev',
    'KubePrismStatuses',
    'KubePrismStatuses.Kubernetes.dev',
    'Kube_Statuses.a.b',
  ])('refuses the invalid type name %s', (type) => {
    expect(() => defineResource({ type, defaultNamespace: 'x', schema: z.object({}) })).toThrow(RegistrationError);
  });

  it('reads print columns and redacts sensitive specs', () => {
    expect(readColumn({ a: { b: 3 } }, '{.a.b}')).toBe(3);
    expect(readColumn({ a: 1 }, '{.missing.deeper}')).toBeUndefined();
    const res = { metadata: {} as never, spec: { token: 'abc' } };
    expect(redacted(Secrets, res).spec).toEqual({ token: '***' });
    expect(redacted(Statuses, { metadata: {} as never, spec: { healthy: true } }).spec).toEqual({ healthy: true });
  });
});

describe('State', () => {
  async function open() {
    const state = await createState();
    await state.registerType(Endpoints);
    await state.registerType(Statuses);
    await state.registerType(Secrets);
    return state;
  }

  it('records definitions and namespaces as resources', async () => {
    const state = await open();
    const rds = await state.list(kindOf(ResourceDefinitionType));
    expect(rds.map((r) => r.metadata.id)).toContain('kubeprismstatuses.kubernetes.talos.dev');
    const rd = await state.get(ptr(ResourceDefinitionType, 'kubeprismstatuses.kubernetes.talos.dev'));
    expect(rd.spec).toMatchObject({ displayType: 'KubePrismStatus', defaultNamespace: 'k8s', aliases: ['kubeprismstatus', 'kps'] });
    const namespaces = (await state.list(kindOf(NamespaceType))).map((r) => r.metadata.id);
    expect(namespaces).toEqual(['config', 'k8s', 'meta', 'runtime']);
    await state.registerType(Statuses);
    const conflicting = defineResource({ type: Statuses.type, defaultNamespace: 'k8s', schema: z.object({}) });
    await expect(state.registerType(conflicting)).rejects.toBeInstanceOf(RegistrationError);
  });

  it('resolves type names case-insensitively by type, plural, singular or alias', async () => {
    const state = await open();
    for (const name of ['KubePrismStatuses.kubernetes.talos.dev', 'kubeprismstatuses', 'KubePrismStatus', 'KPS', ' kps ']) {
      expect(state.registry.resolve(name)).toBe(Statuses);
    }
    expect(state.registry.resolve('rd')).toBe(ResourceDefinitionType);
    expect(state.registry.resolve('ns')).toBe(NamespaceType);
    expect(() => state.registry.resolve('nope')).toThrow(UnknownTypeError);
    try {
      state.registry.resolve('nope');
    } catch (err) {
      expect((err as UnknownTypeError).known).toContain(Statuses.type);
    }
    const lookalike = defineResource({ type: 'KubePrismStates.other.dev', defaultNamespace: 'k8s', schema: z.object({}) });
    await state.registerType(lookalike);
    expect(() => state.registry.resolve('kps')).toThrow(AmbiguousTypeError);
    expect(state.registry.resolve('kubeprismstatus')).toBe(Statuses);
  });

  it('validates every write against the schema and stores nothing invalid', async () => {
    const state = await open();
    const bad = { metadata: ptr(Endpoints, 'k8s-cluster'), spec: { endpoints: [{ host: 'a', port: 0 }] } };
    const err = await state.create(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues).toEqual([{ path: 'spec.endpoints.0.port', message: expect.stringMatching(/>=\s*1/) }]);
    expect(await state.find(ptr(Endpoints, 'k8s-cluster'))).toBeUndefined();

    const good = await state.create({ metadata: ptr(Endpoints, 'k8s-cluster'), spec: { endpoints: [{ host: 'a', port: 1 }] } });
    await expect(state.update({ ...good, spec: { endpoints: [{ host: '', port: 1 }] } })).rejects.toThrow(/spec\.endpoints\.0\.host/);
    expect((await state.get(ptr(Endpoints, 'k8s-cluster'))).metadata.version).toBe(1);
  });

  it('refuses unknown types, unregistered namespaces and bad ids', async () => {
    const state = await open();
    await expect(state.create({ metadata: { namespace: 'k8s', type: 'Nopes.x.dev', id: 'a' }, spec: {} })).rejects.toBeInstanceOf(
      UnknownTypeError,
    );
    await expect(state.create({ metadata: ptr(Statuses, 'a', 'elsewhere'), spec: { healthy: true } })).rejects.toThrow(
      /metadata\.namespace/,
    );
    await expect(state.create({ metadata: ptr(Statuses, 'a/b'), spec: { healthy: true } })).rejects.toThrow(/metadata\.id/);
    await expect(state.create({ metadata: ptr(Statuses, 'x'.repeat(254)), spec: { healthy: true } })).rejects.toThrow(/metadata\.id/);
  });

  it('stores the schema-normalized spec (defaults applied)', async () => {
    const state = await open();
    const created = await state.create({ metadata: ptr(Statuses, 's'), spec: {} as { healthy: boolean } });
    expect(created.spec).toEqual({ healthy: false });
  });

  it('modify creates, updates, and writes nothing when nothing changed', async () => {
    const state = await open();
    const id = ptr(Endpoints, 'k8s-cluster');
    const events = firstValueFrom(state.watchKind(kindOf(Endpoints)).pipe(take(2), toArray()));
    const created = await state.modify(
      id,
      (d) => {
        d.spec.endpoints = [{ host: 'a', port: 443 }];
        d.labels.source = 'test';
      },
      { owner: 'me', initialSpec: { endpoints: [] } },
    );
    expect(created.metadata).toMatchObject({ version: 1, owner: 'me', labels: { source: 'test' } });
    const same = await state.modify(
      id,
      (d) => {
        d.spec = { endpoints: [{ host: 'a', port: 443 }] };
      },
      { owner: 'me' },
    );
    expect(same.metadata.version).toBe(1);
    const changed = await state.modify(
      id,
      (d) => {
        d.spec.endpoints.push({ host: 'b', port: 6443 });
      },
      { owner: 'me' },
    );
    expect(changed.metadata.version).toBe(2);
    expect(changed.spec.endpoints).toHaveLength(2);
    const seen = await events;
    expect(seen.map((e) => e.type)).toEqual(['created', 'updated']);
    await expect(state.modify(id, (d) => void d.spec.endpoints.pop(), { owner: 'someone-else' })).rejects.toThrow(/owned by "me"/);
  });

  it('teardown and teardown-and-destroy respect finalizers', async () => {
    const state = await open();
    const id = ptr(Statuses, 'td');
    await state.create({ metadata: id, spec: { healthy: true } }, { owner: 'me' });
    await state.addFinalizer(id, 'holder');
    expect(await state.teardown(id, { owner: 'me' })).toBe(false);
    expect((await state.get(id)).metadata.phase).toBe('tearingDown');
    expect(await state.teardownAndDestroy(id, { owner: 'me' })).toBe(false);
    await state.removeFinalizer(id, 'holder');
    expect(await state.teardownAndDestroy(id, { owner: 'me' })).toBe(true);
    expect(await state.find(id)).toBeUndefined();
  });

  it('watchFor resolves on the first matching state and honours abort', async () => {
    const state = await open();
    const id = ptr(Statuses, 'wf');
    const healthy = state.watchFor(id, (r) => r?.spec.healthy === true);
    const created = await state.create({ metadata: id, spec: { healthy: false } });
    await state.update({ ...created, spec: { healthy: true } });
    expect((await healthy)?.metadata.version).toBe(2);
    expect(await state.watchFor(id, (r) => r !== undefined)).toBeDefined();
    const gone = state.watchFor(id, (r) => r === undefined);
    await state.destroy(id);
    expect(await gone).toBeUndefined();
    const controller = new AbortController();
    const never = state.watchFor(id, () => false, { signal: controller.signal });
    controller.abort(new Error('stop waiting'));
    await expect(never).rejects.toThrow('stop waiting');
  });
});
