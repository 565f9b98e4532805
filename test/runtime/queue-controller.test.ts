import { Writable } from 'node:stream';
import { pino } from 'pino';
import { throwError } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import {
  ControllerStatusType,
  createState,
  defineResource,
  Engine,
  kindOf,
  outputOf,
  ptr,
  queueController,
  requeue,
  skip,
  type QueueControllerSpec,
  type ResourcePointer,
  type State,
} from '../../src/runtime/index.js';
import { eventuallyList, eventuallyResource } from '../harness/eventually.js';

const Ints = defineResource({ type: 'Ints.test.kubeprism.dev', defaultNamespace: 'test', schema: z.object({ value: z.number().int() }) });
const Strs = defineResource({ type: 'Strs.test.kubeprism.dev', defaultNamespace: 'test', schema: z.object({ value: z.string() }) });
const Negatives = defineResource({
  type: 'Negatives.test.kubeprism.dev',
  defaultNamespace: 'test',
  schema: z.object({ value: z.number().int() }),
});
const Prefixes = defineResource({ type: 'Prefixes.test.kubeprism.dev', defaultNamespace: 'test', schema: z.object({ text: z.string() }) });

const FAST = { initialMs: 5, maxMs: 40, multiplier: 2, jitter: 0 };
/** So slow that a retry never comes by itself during a test: only a change brings the item back. */
const NEVER = { initialMs: 3_600_000, maxMs: 3_600_000, multiplier: 2, jitter: 0 };

let state: State;
let engine: Engine;

afterEach(async () => {
  await engine?.stop();
});

async function setup(spec: Partial<QueueControllerSpec<{ value: number }>> = {}): Promise<void> {
  state = await createState();
  for (const def of [Ints, Strs, Negatives, Prefixes]) await state.registerType(def);
  engine = new Engine(state, { backoff: FAST });
  engine.register(
    queueController({
      name: 'IntQueueController',
      primary: kindOf(Ints),
      outputs: [outputOf(Strs), outputOf(Negatives)],
      backoff: FAST,
      // Each int gets a str (with the prefix, when there is one); a negative int also gets a negative.
      async reconcile(ctx, item, int) {
        if (!int) return;
        const prefix = (await ctx.find(ptr(Prefixes, 'p')))?.spec.text ?? '';
        await ctx.modify(ptr(Strs, item.id), (d) => void (d.spec.value = `${prefix}${int.spec.value}`));
        if (int.spec.value < 0) await ctx.modify(ptr(Negatives, item.id), (d) => void (d.spec.value = int.spec.value));
      },
      mapped: [{ kind: kindOf(Prefixes), map: async (ctx) => (await ctx.list(kindOf(Ints))).map((i) => i.metadata as ResourcePointer) }],
      ...spec,
    }),
  );
  engine.start();
}

const ids = (items: Array<{ metadata: { id: string } }>): string[] => items.map((i) => i.metadata.id);

describe('queue-based controllers (COSI QController)', () => {
  it('reconciles each primary item, and cleans up the outputs of an item that stops producing them or is gone', async () => {
    await setup();
    await state.create({ metadata: ptr(Ints, 'a'), spec: { value: 1 } });
    await state.create({ metadata: ptr(Ints, 'b'), spec: { value: -2 } });
    await eventuallyList(state, kindOf(Strs), (strs) =>
      expect(strs.map((s) => [s.metadata.id, s.spec.value])).toEqual([
        ['a', '1'],
        ['b', '-2'],
      ]),
    );
    await eventuallyList(state, kindOf(Negatives), (n) => expect(ids(n)).toEqual(['b']));

    // b stops producing its negative: only that output goes.
    await state.modify(ptr(Ints, 'b'), (d) => void (d.spec.value = 2));
    await eventuallyList(state, kindOf(Negatives), (n) => expect(ids(n)).toEqual([]));
    expect((await state.get(ptr(Strs, 'b'))).spec.value).toBe('2');

    // a is gone: its outputs go, b's stay.
    await state.destroy(ptr(Ints, 'a'));
    await eventuallyList(state, kindOf(Strs), (strs) => expect(ids(strs)).toEqual(['b']));
    expect((await state.get(ptr(Strs, 'b'))).metadata.owner).toBe('IntQueueController');
  });

  it('maps changes of a secondary input to primary items', async () => {
    await setup();
    for (const [id, value] of [
      ['x', 1],
      ['y', 2],
    ] as const)
      await state.create({ metadata: ptr(Ints, id), spec: { value } });
    await eventuallyList(state, kindOf(Strs), (strs) => expect(strs.map((s) => s.spec.value)).toEqual(['1', '2']));
    await state.create({ metadata: ptr(Prefixes, 'p'), spec: { text: 'n=' } });
    await eventuallyList(state, kindOf(Strs), (strs) => expect(strs.map((s) => s.spec.value)).toEqual(['n=1', 'n=2']));
    await engine.settled();
    expect(engine.stats()[0]?.queue).toMatchObject({ mapped: 1, failures: 0, queued: 0 });
  });

  it('retries a failing item with its own backoff while the others go on; a change brings it back at once', async () => {
    let failing = true;
    await setup({
      backoff: NEVER,
      async reconcile(ctx, item, int) {
        if (!int) return;
        if (item.id === 'bad' && failing) throw new Error('not today');
        await ctx.modify(ptr(Strs, item.id), (d) => void (d.spec.value = String(int.spec.value)));
      },
    });
    await state.create({ metadata: ptr(Ints, 'bad'), spec: { value: 1 } });
    await state.create({ metadata: ptr(Ints, 'good'), spec: { value: 1 } });
    await eventuallyResource(state, ptr(Strs, 'good'), (s) => expect(s?.spec.value).toBe('1'));
    await state.modify(ptr(Ints, 'good'), (d) => void (d.spec.value = 2));
    await eventuallyResource(state, ptr(Strs, 'good'), (s) => expect(s?.spec.value).toBe('2'));
    await engine.settled();
    // One failure, waiting out an hour-long backoff: the item is queued, the controller is not crashed.
    expect(engine.stats()[0]).toMatchObject({ crashes: 0, queue: { failures: 1, queued: 1 } });
    expect(await state.find(ptr(Strs, 'bad'))).toBeUndefined();
    failing = false;
    await state.modify(ptr(Ints, 'bad'), (d) => void (d.spec.value = 3));
    await eventuallyResource(state, ptr(Strs, 'bad'), (s) => expect(s?.spec.value).toBe('3'));
    await engine.settled();
    expect(engine.stats()[0]?.queue).toMatchObject({ failures: 1, queued: 0 });
  });

  it('backs off exponentially per item: retries come by themselves, each after a longer backoff', async () => {
    const logged: Array<{ msg?: string; delayMs?: number; failures?: number }> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) logged.push(JSON.parse(line) as (typeof logged)[number]);
        done();
      },
    });
    state = await createState();
    for (const def of [Ints, Strs]) await state.registerType(def);
    engine = new Engine(state, { backoff: FAST, logger: pino({ level: 'error' }, sink) });
    let attempts = 0;
    engine.register(
      queueController({
        name: 'RetryQueueController',
        primary: kindOf(Ints),
        outputs: [outputOf(Strs)],
        backoff: { initialMs: 1, maxMs: 1_000, multiplier: 4, jitter: 0 },
        async reconcile(ctx, item, int) {
          if (!int) return;
          if (++attempts < 4) throw new Error(`attempt ${attempts}`);
          await ctx.modify(ptr(Strs, item.id), (d) => void (d.spec.value = 'finally'));
        },
      }),
    );
    engine.start();
    await state.create({ metadata: ptr(Ints, 'retry'), spec: { value: 1 } });
    await eventuallyResource(state, ptr(Strs, 'retry'), (s) => expect(s?.spec.value).toBe('finally'));
    // Each failure is logged with the backoff it waits: 1, 4, then 16 ms.
    const failures = logged.filter((l) => l.msg === 'queue item failed; retrying after backoff');
    expect(failures.map((l) => [l.failures, l.delayMs])).toEqual([
      [1, 1],
      [2, 4],
      [3, 16],
    ]);
    expect(engine.stats()[0]?.queue).toMatchObject({ failures: 3 });
  });

  it('requeues an item that asks for it, without counting a failure; skip waits for the next change', async () => {
    let calls = 0;
    await setup({
      async reconcile(ctx, item, int) {
        if (!int) return;
        calls++;
        if (item.id === 'later' && calls === 1) requeue(5);
        if (item.id === 'skipped' && int.spec.value === 0) skip('zero means not yet');
        await ctx.modify(ptr(Strs, item.id), (d) => void (d.spec.value = String(int.spec.value)));
      },
    });
    await state.create({ metadata: ptr(Ints, 'later'), spec: { value: 7 } });
    await eventuallyResource(state, ptr(Strs, 'later'), (s) => expect(s?.spec.value).toBe('7'));
    await state.create({ metadata: ptr(Ints, 'skipped'), spec: { value: 0 } });
    await engine.settled();
    expect(await state.find(ptr(Strs, 'skipped'))).toBeUndefined();
    await state.modify(ptr(Ints, 'skipped'), (d) => void (d.spec.value = 1));
    await eventuallyResource(state, ptr(Strs, 'skipped'), (s) => expect(s?.spec.value).toBe('1'));
    expect(engine.stats()[0]?.queue).toMatchObject({ requeues: 1, failures: 0 });
  });

  it('leaves an output someone holds tearing down, and destroys it once released', async () => {
    await setup();
    await state.create({ metadata: ptr(Ints, 'n'), spec: { value: -1 } });
    await eventuallyResource(state, ptr(Negatives, 'n'), (r) => expect(r?.spec.value).toBe(-1));
    await state.addFinalizer(ptr(Negatives, 'n'), 'someone-else');
    await state.modify(ptr(Ints, 'n'), (d) => void (d.spec.value = 1));
    await eventuallyResource(state, ptr(Negatives, 'n'), (r) => expect(r?.metadata.phase).toBe('tearingDown'));
    await state.removeFinalizer(ptr(Negatives, 'n'), 'someone-else');
    await eventuallyResource(state, ptr(Negatives, 'n'), (r) => expect(r).toBeUndefined());
  });

  it('is supervised like any controller: a broken input watch crashes it, and it restarts with backoff', async () => {
    state = await createState();
    for (const def of [Ints, Strs, Negatives, Prefixes]) await state.registerType(def);
    const original = state.core.watchKind.bind(state.core);
    let broken = 1;
    vi.spyOn(state.core, 'watchKind').mockImplementation(((kind: { type: string }, options?: object) =>
      kind.type === Ints.type && options && broken-- > 0
        ? throwError(() => new Error('store lost'))
        : original(kind as never, options as never)) as never);
    await state.create({ metadata: ptr(Ints, 'a'), spec: { value: 1 } });
    engine = new Engine(state, { backoff: FAST });
    engine.register(
      queueController({
        name: 'IntQueueController',
        primary: kindOf(Ints),
        outputs: [outputOf(Strs)],
        reconcile: async (ctx, item, int) => void (int && (await ctx.modify(ptr(Strs, item.id), (d) => void (d.spec.value = 'ok')))),
      }),
    );
    engine.start();
    await eventuallyResource(state, ptr(Strs, 'a'), (r) => expect(r?.spec.value).toBe('ok'));
    await eventuallyResource(state, ptr(ControllerStatusType, 'IntQueueController'), (r) =>
      expect(r?.spec).toMatchObject({ crashes: 1, lastError: 'store lost' }),
    );
  });

  it('shows in the graph with primary and mapped edges, and counts reads, writes and wake-ups', async () => {
    await setup();
    expect(engine.graph().edges).toEqual([
      { from: Ints.type, to: 'IntQueueController', kind: 'primary', direction: 'input' },
      { from: Prefixes.type, to: 'IntQueueController', kind: 'mapped', direction: 'input' },
      { from: 'IntQueueController', to: Strs.type, kind: 'exclusive', direction: 'output' },
      { from: 'IntQueueController', to: Negatives.type, kind: 'exclusive', direction: 'output' },
    ]);
    await engine.settled();
    const before = engine.stats()[0]!;
    await state.create({ metadata: ptr(Ints, 'a'), spec: { value: 1 } });
    await eventuallyResource(state, ptr(Strs, 'a'), (r) => expect(r).toBeDefined());
    await engine.settled();
    const after = engine.stats()[0]!;
    // The item's read of itself and of the prefix, modify's read; modify's create.
    expect({ reads: after.reads - before.reads, writes: after.writes - before.writes }).toEqual({ reads: 3, writes: 1 });
    expect(after.wakeups - before.wakeups).toBeGreaterThanOrEqual(1);
    expect(after.queue).toMatchObject({ processed: 1, failures: 0, queued: 0 });
  });
});
