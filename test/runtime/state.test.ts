import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { firstValueFrom, take, toArray } from 'rxjs';
import {
  abbreviate,
  AmbiguousTypeError,
  BookmarkExpiredError,
  createState,
  defineResource,
  kindOf,
  NamespaceType,
  NotFoundError,
  OwnerConflictError,
  PhaseConflictError,
  RESOURCE_ID_MAX_LENGTH,
  ptr,
  readColumn,
  redacted,
  RegistrationError,
  ResourceDefinitionType,
  singularize,
  UnknownTypeError,
  ValidationError,
  type WatchBookmarkEvent,
  type WatchEvent,
} from '../../src/runtime/index.js';

function describeEvent(event: WatchEvent | WatchBookmarkEvent): string {
  if (event.type === 'bootstrapped') return `bootstrapped:${event.kind.namespace}/${event.kind.type}`;
  if (event.type === 'bookmark' || event.type === 'errored') return event.type;
  return `${event.type}:${event.resource.metadata.id}`;
}

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
    for (const [id, problem] of [
      ['', /empty/],
      ['x'.repeat(RESOURCE_ID_MAX_LENGTH + 1), /at most 1024/],
      ['tab\there', /control characters/],
      ['line\nbreak', /control characters/],
      ['lone \uD800 surrogate', /well-formed/],
    ] as const) {
      const err = await state.create({ metadata: ptr(Statuses, id), spec: { healthy: true } }).catch((e: unknown) => e);
      expect(err, JSON.stringify(id)).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).issues).toEqual([{ path: 'metadata.id', message: expect.stringMatching(problem) }]);
    }
  });

  it('accepts any other non-empty id: slashes, spaces, dots, unicode (as COSI)', async () => {
    const state = await open();
    const ids = ['var/run', '/', 'a b', ' leading space', '..', '%2F', 'ünï 🚀', 'x'.repeat(RESOURCE_ID_MAX_LENGTH)];
    for (const id of ids) await state.create({ metadata: ptr(Statuses, id), spec: { healthy: true } });
    expect((await state.list(kindOf(Statuses))).map((r) => r.metadata.id)).toEqual([...ids].sort());
    expect((await state.get(ptr(Statuses, 'var/run'))).metadata.id).toBe('var/run');
    await state.destroy(ptr(Statuses, 'var/run'));
    expect(await state.find(ptr(Statuses, 'var/run'))).toBeUndefined();
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

  it('teardownAndDestroy waits for every finalizer, then destroys; the if-ready variant never waits', async () => {
    const state = await open();
    const id = ptr(Statuses, 'td');
    await state.create({ metadata: id, spec: { healthy: true } }, { owner: 'me' });
    await state.addFinalizer(id, 'holder-a', 'holder-b');
    expect(await state.teardown(id, { owner: 'me' })).toBe(false);
    expect((await state.get(id)).metadata.phase).toBe('tearingDown');
    expect(await state.teardownAndDestroyIfReady(id, { owner: 'me' })).toBe(false);
    expect((await state.get(id)).metadata.phase).toBe('tearingDown');

    let settled = false;
    const destroyed = state.teardownAndDestroy(id, { owner: 'me' }).finally(() => (settled = true));
    await state.removeFinalizer(id, 'holder-a');
    // One finalizer left: still waiting, still there.
    await state.watchFor(id, (r) => r?.metadata.finalizers.length === 1);
    expect(settled).toBe(false);
    expect(await state.find(id)).toBeDefined();
    await state.removeFinalizer(id, 'holder-b');
    expect(await destroyed).toBe(true);
    expect(await state.find(id)).toBeUndefined();
    // Gone already: nothing to wait for.
    expect(await state.teardownAndDestroy(id, { owner: 'me' })).toBe(true);
  });

  it('teardownAndDestroy waits through a finalizer re-added before its destroy, and stops at its signal', async () => {
    const state = await open();
    const id = ptr(Statuses, 'held');
    await state.create({ metadata: id, spec: { healthy: true } });
    await state.addFinalizer(id, 'holder');
    const controller = new AbortController();
    const waiting = state.teardownAndDestroy(id, { signal: controller.signal });
    await state.watchFor(id, (r) => r?.metadata.phase === 'tearingDown');
    controller.abort(new Error('gave up waiting'));
    await expect(waiting).rejects.toThrow('gave up waiting');
    // Left tearing down, finalizer intact; a later call finishes the job once it is released.
    expect((await state.get(id)).metadata).toMatchObject({ phase: 'tearingDown', finalizers: ['holder'] });
    const again = state.teardownAndDestroy(id);
    await state.removeFinalizer(id, 'holder');
    expect(await again).toBe(true);
  });

  it('modify retries version races until it lands: many concurrent writers all count', async () => {
    const state = await open();
    const counter = ptr(Endpoints, 'counter');
    await state.create({ metadata: counter, spec: { endpoints: [] } });
    const writers = 40;
    await Promise.all(
      Array.from({ length: writers }, (_, i) =>
        // Each writer yields between its read and its write, so nearly every attempt races the others.
        state.modify(counter, (d) => void d.spec.endpoints.push({ host: `h${i}`, port: 1 })),
      ),
    );
    const stored = await state.get(counter);
    expect(stored.spec.endpoints).toHaveLength(writers);
    expect(new Set(stored.spec.endpoints.map((e) => e.host)).size).toBe(writers);
    expect(stored.metadata.version).toBe(writers + 1);
  });

  it('modify gives up its retries when its signal aborts', async () => {
    const state = await open();
    const id = ptr(Statuses, 'contended');
    await state.create({ metadata: id, spec: { healthy: false } });
    const controller = new AbortController();
    let attempts = 0;
    const attempt = state.modify(
      id,
      (d) => {
        attempts++;
        d.spec.healthy = !d.spec.healthy;
        // Someone else writes on every attempt, between our read and our write (the in-memory store applies
        // a finalizer change synchronously): this writer would retry forever.
        void state.addFinalizer(id, `other-${attempts}`);
        if (attempts === 50) controller.abort(new Error('enough'));
      },
      { signal: controller.signal },
    );
    await expect(attempt).rejects.toThrow('enough');
    expect(attempts).toBe(50);
  });

  it('update always writes; modify writes only real changes (COSI Update vs UpdateWithConflicts)', async () => {
    const state = await open();
    const id = ptr(Statuses, 'w');
    const created = await state.create({ metadata: id, spec: { healthy: true } });
    expect((await state.update(created)).metadata.version).toBe(2);
    // Equal once the schema has normalized it (the default filled in): nothing to write.
    expect((await state.modify(id, (d) => void (d.spec = {} as { healthy: boolean }))).metadata.version).toBe(3);
    expect((await state.modify(id, (d) => void (d.spec = { healthy: false }))).metadata.version).toBe(3);
    expect((await state.modify(id, (d) => void (d.spec.healthy = false))).metadata.version).toBe(3);
    // A no-op is still refused to another owner or in another phase.
    await expect(state.modify(id, () => undefined, { owner: 'someone' })).rejects.toBeInstanceOf(OwnerConflictError);
    await state.teardown(id);
    await expect(state.modify(id, () => undefined)).rejects.toBeInstanceOf(PhaseConflictError);
  });

  it('contextUntilTeardown ends when the resource starts tearing down, is destroyed, is absent, or the parent ends', async () => {
    const state = await open();
    const id = ptr(Statuses, 'life');
    await state.create({ metadata: id, spec: { healthy: true } });
    await state.addFinalizer(id, 'holder');
    const reason = (signal: AbortSignal): Promise<unknown> =>
      new Promise((resolve) => (signal.aborted ? resolve(signal.reason) : signal.addEventListener('abort', () => resolve(signal.reason))));

    const tied = state.contextUntilTeardown(id);
    await state.modify(id, (d) => void (d.spec.healthy = false)); // a change, not a teardown
    expect(tied.aborted).toBe(false);
    await state.teardown(id);
    expect(await reason(tied)).toBeInstanceOf(PhaseConflictError);

    expect(await reason(state.contextUntilTeardown(ptr(Statuses, 'never-existed')))).toBeInstanceOf(NotFoundError);

    const other = ptr(Statuses, 'other');
    await state.create({ metadata: other, spec: { healthy: true } });
    const untilGone = state.contextUntilTeardown(other);
    await state.destroy(other);
    expect(await reason(untilGone)).toBeInstanceOf(NotFoundError);

    await state.create({ metadata: other, spec: { healthy: true } });
    const parent = new AbortController();
    const child = state.contextUntilTeardown(other, parent.signal);
    parent.abort(new Error('engine stopped'));
    expect(await reason(child)).toEqual(new Error('engine stopped'));
  });

  it('watches several kinds in one stream of batches, one bootstrap per kind', async () => {
    const state = await open();
    await state.create({ metadata: ptr(Statuses, 's1'), spec: { healthy: true } });
    await state.create({ metadata: ptr(Endpoints, 'e1'), spec: { endpoints: [] } });
    const batches: string[][] = [];
    const subscription = state
      .watchKindAggregated([kindOf(Statuses), kindOf(Endpoints)], { bootstrap: true })
      .subscribe((batch) => batches.push(batch.map(describeEvent)));
    await state.watchFor(ptr(Statuses, 's1'), (r) => r !== undefined); // a turn of the event loop
    await state.create({ metadata: ptr(Statuses, 's2'), spec: { healthy: false } });
    await state.create({ metadata: ptr(Endpoints, 'e2'), spec: { endpoints: [] } });
    await state.watchFor(ptr(Endpoints, 'e2'), (r) => r !== undefined);
    await new Promise((resolve) => setImmediate(resolve));
    subscription.unsubscribe();
    expect(batches[0]).toEqual(['created:s1', `bootstrapped:k8s/${Statuses.type}`, 'created:e1', `bootstrapped:k8s/${Endpoints.type}`]);
    expect(batches.slice(1).flat()).toEqual(['created:s2', 'created:e2']);

    // Each kind resumes from its own bookmark; a bad one fails the whole stream.
    const error = await firstValueFrom(
      state.watchKindAggregated([kindOf(Statuses), { ...kindOf(Endpoints), startFromBookmark: 'stale' }]).pipe(toArray()),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BookmarkExpiredError);
    const duplicate = await firstValueFrom(state.watchKindAggregated([kindOf(Statuses), kindOf(Statuses)]).pipe(toArray())).catch(
      (e: unknown) => e,
    );
    expect(duplicate).toBeInstanceOf(ValidationError);
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
