import { firstValueFrom, take, toArray, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  ConflictError,
  NotFoundError,
  OwnerConflictError,
  PhaseConflictError,
  type CoreState,
  type ResourceKind,
  type WatchBookmarkEvent,
  type WatchEvent,
} from '../../src/runtime/index.js';

/** What the conformance suite needs from a store under test. */
export interface ConformanceSubject {
  readonly core: CoreState;
  /** A registered kind whose spec is `{ value: string }`. */
  readonly kind: ResourceKind;
}

/** Makes a fresh store; `historyCapacity` bounds the per-kind event history. */
export type ConformanceFactory = (options: { historyCapacity: number }) => Promise<ConformanceSubject>;

/** Collects the first `n` events of a stream. */
export function firstEvents<E>(events: Observable<E>, n: number): Promise<E[]> {
  return firstValueFrom(events.pipe(take(n), toArray()));
}

/** Short textual form of events, for readable comparisons. */
export function describeEvents(events: ReadonlyArray<WatchEvent | WatchBookmarkEvent>): string[] {
  return events.map((e) => {
    if (e.type === 'bootstrapped') return `bootstrapped:${e.kind.namespace}/${e.kind.type}`;
    if (e.type === 'bookmark') return 'bookmark';
    if (e.type === 'errored') return `errored:${e.error.code}`;
    const spec = e.resource.spec as { value?: string } | null;
    return `${e.type}:${e.resource.metadata.id}@${e.resource.metadata.version}:${spec?.value ?? '-'}`;
  });
}

/** How {@link describeEvents} shows the end of `kind`'s bootstrap. */
export function bootstrapped(kind: ResourceKind): string {
  return `bootstrapped:${kind.namespace}/${kind.type}`;
}

/**
 * The COSI-style state conformance suite: every CoreState implementation and wrapper must pass it.
 * Run it as `stateConformance('name', factory)` inside a test file.
 */
export function stateConformance(name: string, factory: ConformanceFactory): void {
  const open = (historyCapacity = 1024): Promise<ConformanceSubject> => factory({ historyCapacity });

  describe(`${name}: state conformance`, () => {
    const res = (kind: ResourceKind, id: string, value: string, labels: Record<string, string> = {}) => ({
      metadata: { ...kind, id, labels },
      spec: { value },
    });

    it('creates, reads, lists and destroys', async () => {
      const { core, kind } = await open();
      const created = await core.create(res(kind, 'b', 'two'));
      await core.create(res(kind, 'a', 'one'));
      expect(created.metadata).toMatchObject({ ...kind, id: 'b', version: 1, owner: '', phase: 'running', finalizers: [] });
      expect((await core.get({ ...kind, id: 'b' })).spec).toEqual({ value: 'two' });
      expect((await core.list(kind)).map((r) => r.metadata.id)).toEqual(['a', 'b']);
      await expect(core.create(res(kind, 'b', 'again'))).rejects.toBeInstanceOf(ConflictError);
      await core.destroy({ ...kind, id: 'b' });
      await expect(core.get({ ...kind, id: 'b' })).rejects.toBeInstanceOf(NotFoundError);
      await expect(core.destroy({ ...kind, id: 'b' })).rejects.toBeInstanceOf(NotFoundError);
      expect((await core.list(kind)).map((r) => r.metadata.id)).toEqual(['a']);
    });

    it('returns copies the caller cannot mutate into the store', async () => {
      const { core, kind } = await open();
      const input = res(kind, 'x', 'original');
      const created = await core.create(input);
      input.spec.value = 'changed by caller after create';
      expect(() => {
        (created.spec as { value: string }).value = 'mutated';
      }).toThrow(TypeError);
      expect((await core.get({ ...kind, id: 'x' })).spec).toEqual({ value: 'original' });
    });

    it('enforces owners on update and destroy', async () => {
      const { core, kind } = await open();
      const created = await core.create(res(kind, 'o', 'v1'), { owner: 'alpha' });
      expect(created.metadata.owner).toBe('alpha');
      const next = { ...created, spec: { value: 'v2' } };
      await expect(core.update(next)).rejects.toBeInstanceOf(OwnerConflictError);
      await expect(core.update(next, { owner: 'beta' })).rejects.toBeInstanceOf(OwnerConflictError);
      await expect(core.destroy({ ...kind, id: 'o' }, { owner: 'beta' })).rejects.toBeInstanceOf(OwnerConflictError);
      expect((await core.update(next, { owner: 'alpha' })).metadata.version).toBe(2);
      await core.destroy({ ...kind, id: 'o' }, { owner: 'alpha' });
    });

    it('update always writes: version + 1 and an updated event even when nothing changed (COSI Update)', async () => {
      const { core, kind } = await open();
      const v1 = await core.create(res(kind, 'u', 'one'));
      const events = firstEvents(core.watchKind(kind), 3);
      const v2 = await core.update({ ...v1, spec: { value: 'two' } });
      expect(v2.metadata.version).toBe(2);
      expect(v2.metadata.created).toBe(v1.metadata.created);
      await expect(core.update({ ...v1, spec: { value: 'stale' } })).rejects.toBeInstanceOf(ConflictError);
      const same = await core.update({ ...v2, spec: { value: 'two' } });
      expect(same.metadata.version).toBe(3);
      const labelled = await core.update({ ...same, metadata: { ...same.metadata, labels: { k: 'v' } } });
      expect(labelled.metadata.version).toBe(4);
      expect(describeEvents(await events)).toEqual(['updated:u@2:two', 'updated:u@3:two', 'updated:u@4:two']);
      // Finalizer changes that change nothing write nothing (COSI's AddFinalizer goes through UpdateWithConflicts).
      await core.addFinalizer({ ...kind, id: 'u' }, 'f');
      expect((await core.addFinalizer({ ...kind, id: 'u' }, 'f')).metadata.version).toBe(5);
    });

    it('checks owner, then version, then phase', async () => {
      const { core, kind } = await open();
      const v1 = await core.create(res(kind, 'p', 'one'), { owner: 'alpha' });
      const torn = await core.update({ ...v1, metadata: { ...v1.metadata, phase: 'tearingDown' } }, { owner: 'alpha' });
      // Wrong owner and stale version: the owner is reported first.
      await expect(core.update({ ...v1, spec: { value: 'x' } }, { owner: 'beta' })).rejects.toBeInstanceOf(OwnerConflictError);
      // Right owner, stale version: conflict before phase.
      await expect(core.update({ ...v1, spec: { value: 'x' } }, { owner: 'alpha' })).rejects.toBeInstanceOf(ConflictError);
      // Right owner and version, but the resource is tearing down.
      await expect(core.update({ ...torn, spec: { value: 'x' } }, { owner: 'alpha' })).rejects.toBeInstanceOf(PhaseConflictError);
      const allowed = await core.update({ ...torn, spec: { value: 'x' } }, { owner: 'alpha', expectedPhase: 'tearingDown' });
      expect(allowed.metadata).toMatchObject({ phase: 'tearingDown', version: 3 });
      await expect(
        core.update({ ...allowed, metadata: { ...allowed.metadata, phase: 'running' } }, { owner: 'alpha', expectedPhase: 'any' }),
      ).rejects.toBeInstanceOf(PhaseConflictError);
    });

    it('tears down with finalizers: destroy waits for every finalizer to go', async () => {
      const { core, kind } = await open();
      const ptr = { ...kind, id: 'f' };
      const v1 = await core.create(res(kind, 'f', 'one'), { owner: 'alpha' });
      await core.addFinalizer(ptr, 'holder-a', 'holder-b');
      expect((await core.addFinalizer(ptr, 'holder-a')).metadata.version).toBe(2);
      const current = await core.get(ptr);
      expect(current.metadata.finalizers).toEqual(['holder-a', 'holder-b']);
      expect(v1.metadata.finalizers).toEqual([]);
      await core.update({ ...current, metadata: { ...current.metadata, phase: 'tearingDown' } }, { owner: 'alpha', expectedPhase: 'any' });
      await expect(core.destroy(ptr, { owner: 'alpha' })).rejects.toBeInstanceOf(ConflictError);
      await core.removeFinalizer(ptr, 'holder-a');
      await expect(core.destroy(ptr, { owner: 'alpha' })).rejects.toThrow(/holder-b/);
      await core.removeFinalizer(ptr, 'holder-b', 'never-added');
      await core.destroy(ptr, { owner: 'alpha' });
      await expect(core.get(ptr)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('keeps every finalizer added concurrently', async () => {
      const { core, kind } = await open();
      const ptr = { ...kind, id: 'cf' };
      await core.create(res(kind, 'cf', 'one'));
      const names = Array.from({ length: 50 }, (_, i) => `f-${String(i).padStart(2, '0')}`);
      await Promise.all(names.map((f) => core.addFinalizer(ptr, f)));
      const after = await core.get(ptr);
      expect(after.metadata.finalizers).toEqual(names);
      expect(after.metadata.version).toBe(51);
      await Promise.all(names.map((f) => core.removeFinalizer(ptr, f)));
      expect((await core.get(ptr)).metadata.finalizers).toEqual([]);
    });

    it('lets exactly one of many parallel destroys win', async () => {
      const { core, kind } = await open();
      await core.create(res(kind, 'pd', 'one'));
      const outcomes = await Promise.allSettled(Array.from({ length: 10 }, () => core.destroy({ ...kind, id: 'pd' })));
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      const losers = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(losers).toHaveLength(9);
      for (const loser of losers) expect(loser.reason).toBeInstanceOf(NotFoundError);
    });

    it('watches one resource: current state first, then its changes', async () => {
      const { core, kind } = await open();
      const ptr = { ...kind, id: 'w' };
      const absent = firstEvents(core.watch(ptr), 4);
      await core.create(res(kind, 'other', 'ignored'));
      const v1 = await core.create(res(kind, 'w', 'one'));
      await core.update({ ...v1, spec: { value: 'two' } });
      await core.destroy(ptr);
      expect(describeEvents(await absent)).toEqual(['destroyed:w@0:-', 'created:w@1:one', 'updated:w@2:two', 'destroyed:w@2:two']);

      await core.create(res(kind, 'w', 'again'));
      const present = await firstEvents(core.watch(ptr), 1);
      expect(describeEvents(present)).toEqual(['created:w@1:again']);
    });

    it('carries the old resource in updated events', async () => {
      const { core, kind } = await open();
      const v1 = await core.create(res(kind, 'old', 'before'));
      const events = firstEvents(core.watchKind(kind), 1);
      await core.update({ ...v1, spec: { value: 'after' } });
      const [event] = await events;
      expect(event?.type).toBe('updated');
      if (event?.type === 'updated') {
        expect(event.old.spec).toEqual({ value: 'before' });
        expect(event.resource.spec).toEqual({ value: 'after' });
      }
    });

    it('watches a kind with bootstrap: current items by id, a marker, then live events', async () => {
      const { core, kind } = await open();
      await core.create(res(kind, 'c', 'three'));
      await core.create(res(kind, 'a', 'one'));
      const b = await core.create(res(kind, 'b', 'two'));
      const events = firstEvents(core.watchKind(kind, { bootstrap: true }), 7);
      await core.update({ ...b, spec: { value: 'two!' } });
      await core.create(res(kind, 'd', 'four'));
      await core.destroy({ ...kind, id: 'a' });
      expect(describeEvents(await events)).toEqual([
        'created:a@1:one',
        'created:b@1:two',
        'created:c@1:three',
        bootstrapped(kind),
        'updated:b@2:two!',
        'created:d@1:four',
        'destroyed:a@1:one',
      ]);
    });

    it('watches a kind without bootstrap: live events only', async () => {
      const { core, kind } = await open();
      await core.create(res(kind, 'a', 'one'));
      const events = firstEvents(core.watchKind(kind), 1);
      await core.create(res(kind, 'b', 'two'));
      expect(describeEvents(await events)).toEqual(['created:b@1:two']);
    });

    it('turns label filter transitions into created and destroyed', async () => {
      const { core, kind } = await open();
      await core.create(res(kind, 'in', 'x', { role: 'cp' }));
      await core.create(res(kind, 'out', 'x', { role: 'worker' }));
      const events = firstEvents(core.watchKind(kind, { bootstrap: true, labels: [{ key: 'role', op: 'equal', value: 'cp' }] }), 5);
      const out = await core.get({ ...kind, id: 'out' });
      const promoted = await core.update({ ...out, metadata: { ...out.metadata, labels: { role: 'cp' } }, spec: { value: 'y' } });
      await core.update({ ...promoted, spec: { value: 'z' } });
      const inside = await core.get({ ...kind, id: 'in' });
      await core.update({ ...inside, metadata: { ...inside.metadata, labels: {} } });
      expect(describeEvents(await events)).toEqual([
        'created:in@1:x',
        bootstrapped(kind),
        'created:out@2:y',
        'updated:out@3:z',
        'destroyed:in@2:x',
      ]);
    });

    it('filters lists and watches by id regexp', async () => {
      const { core, kind } = await open();
      for (const id of ['node-1', 'node-2', 'other']) await core.create(res(kind, id, id));
      expect((await core.list(kind, { idRegexp: /^node-/g })).map((r) => r.metadata.id)).toEqual(['node-1', 'node-2']);
      expect((await core.list(kind, { idRegexp: /^node-/g })).map((r) => r.metadata.id)).toEqual(['node-1', 'node-2']);
      const events = firstEvents(core.watchKind(kind, { bootstrap: true, idRegexp: /2$/ }), 3);
      await core.create(res(kind, 'node-3', 'n3'));
      await core.create(res(kind, 'node-22', 'n22'));
      expect(describeEvents(await events)).toEqual(['created:node-2@1:node-2', bootstrapped(kind), 'created:node-22@1:n22']);
    });

    it('answers label queries: exists, equal, in, and their negations', async () => {
      const { core, kind } = await open();
      await core.create(res(kind, 'a', 'a', { tier: 'fast', zone: 'x' }));
      await core.create(res(kind, 'b', 'b', { tier: 'slow' }));
      await core.create(res(kind, 'c', 'c', {}));
      const ids = async (labels: Parameters<CoreState['list']>[1]) => (await core.list(kind, labels)).map((r) => r.metadata.id);
      expect(await ids({ labels: [{ key: 'tier', op: 'exists' }] })).toEqual(['a', 'b']);
      expect(await ids({ labels: [{ key: 'tier', op: 'exists', invert: true }] })).toEqual(['c']);
      expect(await ids({ labels: [{ key: 'tier', op: 'equal', value: 'fast' }] })).toEqual(['a']);
      expect(await ids({ labels: [{ key: 'tier', op: 'equal', value: 'fast', invert: true }] })).toEqual(['b', 'c']);
      expect(await ids({ labels: [{ key: 'tier', op: 'in', values: ['fast', 'slow'] }] })).toEqual(['a', 'b']);
      expect(await ids({ labels: [{ key: 'tier', op: 'in', values: ['slow'], invert: true }] })).toEqual(['a', 'c']);
      expect(
        await ids({
          labels: [
            { key: 'tier', op: 'exists' },
            { key: 'zone', op: 'equal', value: 'x' },
          ],
        }),
      ).toEqual(['a']);
    });

    it('ends a watcher that falls further behind than the history with an error event', async () => {
      const { core, kind } = await open(16);
      const events = firstValueFrom(core.watchKind(kind).pipe(toArray()));
      // Writes issued in one go, without yielding: the watcher cannot catch up before the ring wraps.
      await Promise.all(Array.from({ length: 40 }, (_, i) => core.create(res(kind, `r${i}`, 'x'))));
      const seen = await events;
      expect(seen).toHaveLength(1);
      expect(describeEvents(seen)).toEqual(['errored:KP_ERR_WATCH_OVERRUN']);
      // A fresh watch works again.
      const fresh = firstEvents(core.watchKind(kind, { bootstrap: true }), 41);
      expect((await fresh).at(-1)?.type).toBe('bootstrapped');
    });

    it('keeps a watcher that keeps up, however many events pass', async () => {
      const { core, kind } = await open(16);
      const events = firstEvents(core.watchKind(kind), 100);
      for (let i = 0; i < 100; i++) await core.create(res(kind, `k${i}`, 'x'));
      expect((await events).every((e: WatchEvent) => e.type === 'created')).toBe(true);
    });
  });
}
