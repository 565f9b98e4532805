import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AccessDeniedError,
  ControllerStatusType,
  createState,
  defineResource,
  Engine,
  graphToDot,
  inputOf,
  kindOf,
  OwnerConflictError,
  outputOf,
  ptr,
  reconcileController,
  RegistrationError,
  skip,
  transformController,
  type Controller,
  type ControllerContext,
  type State,
} from '../../src/runtime/index.js';
import { eventually, eventuallyList, eventuallyResource } from '../harness/eventually.js';
import { interval } from 'rxjs';

const Ints = defineResource({ type: 'Ints.test.kubeprism.dev', defaultNamespace: 'test', schema: z.object({ value: z.number().int() }) });
const Strs = defineResource({ type: 'Strs.test.kubeprism.dev', defaultNamespace: 'test', schema: z.object({ value: z.string() }) });
const Sentences = defineResource({
  type: 'Sentences.test.kubeprism.dev',
  defaultNamespace: 'test',
  schema: z.object({ text: z.string() }),
});

const FAST_BACKOFF = { initialMs: 5, maxMs: 40, multiplier: 2, jitter: 0 };

/** ints → strs, holding a finalizer on every int it has turned into a str until that str is gone. */
function intToStr(): Controller {
  const name = 'IntToStrController';
  return {
    name,
    inputs: () => [inputOf(Ints, { kind: 'strong' })],
    outputs: () => [outputOf(Strs)],
    async run(ctx) {
      while (await ctx.nextEvent()) {
        ctx.startTrackingOutputs();
        for (const int of await ctx.list(kindOf(Ints))) {
          const out = ptr(Strs, int.metadata.id);
          if (int.metadata.phase === 'tearingDown') {
            if (await ctx.find(out)) await ctx.teardownAndDestroy(out);
            await ctx.removeFinalizer(int.metadata, name);
            continue;
          }
          await ctx.addFinalizer(int.metadata, name);
          await ctx.modify(out, (d) => {
            d.spec.value = String(int.spec.value);
          });
        }
        await ctx.cleanupOutputs();
      }
    },
  };
}

const strToSentence = () =>
  transformController({
    name: 'StrToSentenceController',
    input: Strs,
    output: Sentences,
    map: (_ctx, str) => ({ text: `the number is ${str.spec.value}` }),
  });

let state: State;
let engine: Engine;

async function setup(...controllers: Controller[]): Promise<void> {
  state = await createState();
  for (const def of [Ints, Strs, Sentences]) await state.registerType(def);
  engine = new Engine(state, { backoff: FAST_BACKOFF });
  for (const c of controllers) engine.register(c);
  engine.start();
}

afterEach(async () => {
  await engine?.stop();
});

describe('controller engine', () => {
  it('runs a chain of two controllers through creates, updates and teardowns', async () => {
    await setup(intToStr(), strToSentence());
    await state.create({ metadata: ptr(Ints, 'one'), spec: { value: 1 } });
    await state.create({ metadata: ptr(Ints, 'two'), spec: { value: 2 } });
    await eventuallyList(state, kindOf(Sentences), (items) =>
      expect(items.map((s) => [s.metadata.id, s.spec.text])).toEqual([
        ['one', 'the number is 1'],
        ['two', 'the number is 2'],
      ]),
    );
    expect((await state.get(ptr(Ints, 'one'))).metadata.finalizers).toEqual(['IntToStrController']);

    await state.modify(ptr(Ints, 'one'), (d) => {
      d.spec.value = 11;
    });
    await eventuallyResource(state, ptr(Sentences, 'one'), (s) => expect(s?.spec.text).toBe('the number is 11'));

    // Tear the input down: the controller drops its output, then releases the input.
    expect(await state.teardown(ptr(Ints, 'two'))).toBe(false);
    await eventuallyResource(state, ptr(Ints, 'two'), (r) => expect(r?.metadata.finalizers).toEqual([]));
    await state.destroy(ptr(Ints, 'two'));
    await eventuallyList(state, kindOf(Sentences), (items) => expect(items.map((s) => s.metadata.id)).toEqual(['one']));
    expect((await state.list(kindOf(Strs))).map((s) => s.metadata.owner)).toEqual(['IntToStrController']);
  });

  it.each([
    ['rejects', true],
    ['throws synchronously', false],
  ])('restarts a controller that %s, with backoff, and the others keep running', async (_how, async) => {
    let attempts = 0;
    const flaky: Controller = {
      name: 'FlakyController',
      inputs: () => [inputOf(Ints)],
      outputs: () => [outputOf(Sentences)],
      run(ctx: ControllerContext) {
        attempts++;
        if (attempts <= 3) {
          if (async) return Promise.reject(new Error(`attempt ${attempts} failed`));
          throw new Error(`attempt ${attempts} failed`);
        }
        return (async () => {
          while (await ctx.nextEvent()) {
            await ctx.modify(ptr(Sentences, 'flaky'), (d) => {
              d.spec.text = 'recovered';
            });
          }
        })();
      },
    };
    const intToStrController = intToStr();
    await setup(flaky, intToStrController);
    await state.create({ metadata: ptr(Ints, 'x'), spec: { value: 7 } });
    await eventuallyResource(state, ptr(Strs, 'x'), (r) => expect(r?.spec.value).toBe('7'));
    await eventuallyResource(state, ptr(Sentences, 'flaky'), (r) => expect(r?.spec.text).toBe('recovered'));
    const stats = engine.stats().find((s) => s.name === 'FlakyController');
    expect(stats).toMatchObject({ crashes: 3, backingOff: false });
    // The crash history is a resource too, for operators (`kubeprism get controllerstatuses`).
    await eventuallyResource(state, ptr(ControllerStatusType, 'FlakyController'), (r) =>
      expect(r?.spec).toMatchObject({ crashes: 3, backingOff: false, lastError: 'attempt 3 failed' }),
    );
    expect((await state.get(ptr(ControllerStatusType, 'IntToStrController'))).spec).toEqual({
      crashes: 0,
      consecutiveFailures: 0,
      backingOff: false,
    });
  });

  it('resets the backoff after a successful round', async () => {
    let failNext = false;
    const sometimes = reconcileController({
      name: 'SometimesController',
      inputs: [inputOf(Ints)],
      outputs: [outputOf(Strs)],
      async reconcile(ctx) {
        const ints = await ctx.list(kindOf(Ints));
        if (failNext) {
          failNext = false;
          throw new Error('one bad round');
        }
        for (const int of ints) await ctx.modify(ptr(Strs, int.metadata.id), (d) => void (d.spec.value = String(int.spec.value)));
      },
    });
    await setup(sometimes);
    failNext = true;
    await state.create({ metadata: ptr(Ints, 'a'), spec: { value: 1 } });
    await eventuallyResource(state, ptr(Strs, 'a'), (r) => expect(r?.spec.value).toBe('1'));
    expect(engine.stats()[0]).toMatchObject({ crashes: 1, consecutiveFailures: 1 });
    await state.create({ metadata: ptr(Ints, 'b'), spec: { value: 2 } });
    await eventuallyResource(state, ptr(Strs, 'b'), (r) => expect(r?.spec.value).toBe('2'));
    await eventuallyResource(state, ptr(ControllerStatusType, 'SometimesController'), (r) =>
      expect(r?.spec).toMatchObject({ crashes: 1, consecutiveFailures: 0, backingOff: false, lastError: 'one bad round' }),
    );
    expect(engine.stats()[0]).toMatchObject({ crashes: 1, consecutiveFailures: 0 });
  });

  it('settled() resolves once a change has gone through the whole chain, slow rounds included', async () => {
    const slowMirror = reconcileController({
      name: 'SlowMirrorController',
      inputs: [inputOf(Strs)],
      outputs: [outputOf(Sentences)],
      async reconcile(ctx) {
        await new Promise((resolve) => setTimeout(resolve, 30)); // a round that waits on I/O
        for (const str of await ctx.list(kindOf(Strs))) {
          await ctx.modify(ptr(Sentences, str.metadata.id), (d) => void (d.spec.text = `slowly ${str.spec.value}`));
        }
      },
    });
    await setup(intToStr(), slowMirror);
    await engine.settled();
    await state.create({ metadata: ptr(Ints, 'a'), spec: { value: 7 } });
    await engine.settled(); // no polling for the outcome: it is there
    expect((await state.get(ptr(Sentences, 'a'))).spec.text).toBe('slowly 7');
    await state.modify(ptr(Ints, 'a'), (d) => void (d.spec.value = 8));
    await engine.settled();
    expect((await state.get(ptr(Sentences, 'a'))).spec.text).toBe('slowly 8');
  });

  it('destroys outputs that were not written in the last round', async () => {
    const mirror = reconcileController({
      name: 'MirrorController',
      inputs: [inputOf(Ints)],
      outputs: [outputOf(Strs)],
      async reconcile(ctx) {
        for (const int of await ctx.list(kindOf(Ints))) {
          await ctx.modify(ptr(Strs, int.metadata.id), (d) => void (d.spec.value = String(int.spec.value)));
        }
      },
    });
    await setup(mirror);
    for (const id of ['a', 'b', 'c']) await state.create({ metadata: ptr(Ints, id), spec: { value: 1 } });
    await eventuallyList(state, kindOf(Strs), (items) => expect(items.map((s) => s.metadata.id)).toEqual(['a', 'b', 'c']));
    await state.destroy(ptr(Ints, 'b'));
    await eventuallyList(state, kindOf(Strs), (items) => expect(items.map((s) => s.metadata.id)).toEqual(['a', 'c']));
  });

  it('cleans up without blocking on an output someone holds, and destroys it once released', async () => {
    const mirror = reconcileController({
      name: 'MirrorController',
      inputs: [inputOf(Ints)],
      outputs: [outputOf(Strs)],
      async reconcile(ctx) {
        for (const int of await ctx.list(kindOf(Ints))) {
          await ctx.modify(ptr(Strs, int.metadata.id), (d) => void (d.spec.value = String(int.spec.value)));
        }
      },
    });
    await setup(mirror);
    await state.create({ metadata: ptr(Ints, 'keep'), spec: { value: 1 } });
    await state.create({ metadata: ptr(Ints, 'stale'), spec: { value: 1 } });
    await eventuallyList(state, kindOf(Strs), (items) => expect(items.map((s) => s.metadata.id)).toEqual(['keep', 'stale']));
    await state.addFinalizer(ptr(Strs, 'stale'), 'someone-else');
    await state.destroy(ptr(Ints, 'stale'));
    await eventuallyResource(state, ptr(Strs, 'stale'), (r) => expect(r?.metadata.phase).toBe('tearingDown'));
    // The round did not wait on the held output: the controller keeps serving other changes.
    await state.modify(ptr(Ints, 'keep'), (d) => void (d.spec.value = 2));
    await eventuallyResource(state, ptr(Strs, 'keep'), (r) => expect(r?.spec.value).toBe('2'));
    expect((await state.get(ptr(Strs, 'stale'))).metadata.phase).toBe('tearingDown');
    // Released: the engine wakes its owner, whose cleanup destroys it, with no input change needed.
    await state.removeFinalizer(ptr(Strs, 'stale'), 'someone-else');
    await eventuallyResource(state, ptr(Strs, 'stale'), (r) => expect(r).toBeUndefined());
    expect(engine.stats()[0]?.crashes).toBe(0);
  });

  it('skips a round quietly when a dependency is missing', async () => {
    const needsInt = reconcileController({
      name: 'NeedsIntController',
      inputs: [inputOf(Ints, { id: 'config' })],
      outputs: [outputOf(Strs)],
      async reconcile(ctx) {
        const config = (await ctx.find(ptr(Ints, 'config'))) ?? skip('config not there yet');
        await ctx.modify(ptr(Strs, 'derived'), (d) => void (d.spec.value = `from ${config.spec.value}`));
      },
    });
    await setup(needsInt);
    await state.create({ metadata: ptr(Ints, 'config'), spec: { value: 5 } });
    await eventuallyResource(state, ptr(Strs, 'derived'), (r) => expect(r?.spec.value).toBe('from 5'));
    expect(engine.stats()[0]?.crashes).toBe(0);
  });

  it('refuses undeclared reads and writes, foreign owners and finalizers on weak inputs', async () => {
    const outcomes: Record<string, unknown> = {};
    const nosy: Controller = {
      name: 'NosyController',
      inputs: () => [inputOf(Ints, { id: 'allowed' })],
      outputs: () => [outputOf(Strs)],
      async run(ctx) {
        while (await ctx.nextEvent()) {
          const attempt = async (what: string, fn: () => Promise<unknown>) => {
            outcomes[what] = await fn().then(
              () => 'ok',
              (e: unknown) => e,
            );
          };
          await attempt('read allowed id', () => ctx.find(ptr(Ints, 'allowed')));
          await attempt('read other id', () => ctx.find(ptr(Ints, 'other')));
          await attempt('list restricted kind', () => ctx.list(kindOf(Ints)));
          await attempt('read undeclared type', () => ctx.list(kindOf(Sentences)));
          await attempt('write undeclared type', () => ctx.modify(ptr(Sentences, 'x'), (d) => void (d.spec.text = 'x')));
          await attempt('write foreign-owned output', () => ctx.modify(ptr(Strs, 'foreign'), (d) => void (d.spec.value = 'mine now')));
          await attempt('finalizer on weak input', () => ctx.addFinalizer(ptr(Ints, 'allowed'), 'nosy'));
          await attempt('write own output', () => ctx.modify(ptr(Strs, 'own'), (d) => void (d.spec.value = 'fine')));
        }
      },
    };
    state = await createState();
    for (const def of [Ints, Strs, Sentences]) await state.registerType(def);
    await state.create({ metadata: ptr(Ints, 'allowed'), spec: { value: 1 } });
    await state.create({ metadata: ptr(Strs, 'foreign'), spec: { value: 'theirs' } }, { owner: 'SomeoneElse' });
    engine = new Engine(state, { backoff: FAST_BACKOFF });
    engine.register(nosy);
    engine.start();
    await eventuallyResource(state, ptr(Strs, 'own'), (r) => expect(r?.spec.value).toBe('fine'));
    expect(outcomes['read allowed id']).toBe('ok');
    expect(outcomes['read other id']).toBeInstanceOf(AccessDeniedError);
    expect(outcomes['list restricted kind']).toBeInstanceOf(AccessDeniedError);
    expect(outcomes['read undeclared type']).toBeInstanceOf(AccessDeniedError);
    expect(outcomes['write undeclared type']).toBeInstanceOf(AccessDeniedError);
    expect(outcomes['write foreign-owned output']).toBeInstanceOf(OwnerConflictError);
    expect(outcomes['finalizer on weak input']).toBeInstanceOf(AccessDeniedError);
    expect((await state.get(ptr(Strs, 'foreign'))).spec.value).toBe('theirs');
  });

  it('counts like COSI: a wake-up when it is scheduled, a read or write for every store call through the context', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const counted: Controller = {
      name: 'CountedController',
      inputs: () => [inputOf(Ints, { id: 'a' })],
      outputs: () => [outputOf(Strs)],
      async run(ctx) {
        await gate;
        while (await ctx.nextEvent()) {
          const int = await ctx.find(ptr(Ints, 'a')); // read
          if (!int) continue;
          await ctx.find(ptr(Strs, 'a')); // read: its own output
          await ctx.modify(ptr(Strs, 'a'), (d) => void (d.spec.value = String(int.spec.value))); // read + write (create)
          await ctx.modify(ptr(Strs, 'a'), (d) => void (d.spec.value = String(int.spec.value))); // read, no write: a no-op
        }
      },
    };
    await setup(counted);
    // The initial round is scheduled (counted) though it has not run yet.
    expect(engine.stats()[0]).toMatchObject({ wakeups: 1, reads: 0, writes: 0 });
    open();
    await engine.settled();
    const idle = engine.stats()[0]!;
    expect(idle).toMatchObject({ wakeups: 1, reads: 1, writes: 0 });
    await state.create({ metadata: ptr(Ints, 'a'), spec: { value: 1 } });
    await engine.settled();
    const after = engine.stats()[0]!;
    expect({ wakeups: after.wakeups - idle.wakeups, reads: after.reads - idle.reads, writes: after.writes - idle.writes }).toEqual({
      wakeups: 1,
      reads: 4,
      writes: 1,
    });
  });

  it('refuses bad registrations', async () => {
    await setup(intToStr());
    const sameOutput = { ...intToStr(), name: 'Other' };
    expect(() => engine.register(sameOutput)).toThrow(RegistrationError);
    expect(() => engine.register(intToStr())).toThrow(/already registered/);
    const sharedOnExclusive: Controller = { ...intToStr(), name: 'Shared', outputs: () => [outputOf(Strs, 'shared')] };
    expect(() => engine.register(sharedOnExclusive)).toThrow(RegistrationError);
    const unknownInput: Controller = {
      ...intToStr(),
      name: 'Unknown',
      inputs: () => [{ namespace: 'test', type: 'Nopes.x.dev', kind: 'weak' }],
      outputs: () => [],
    };
    expect(() => engine.register(unknownInput)).toThrow(/Nopes/);
    const a: Controller = { ...intToStr(), name: 'SharedA', outputs: () => [outputOf(Sentences, 'shared')] };
    const b: Controller = { ...intToStr(), name: 'SharedB', outputs: () => [outputOf(Sentences, 'shared')] };
    engine.register(a);
    engine.register(b);
  });

  it('coalesces 1000 rapid input changes into far fewer rounds and ends in the right state', async () => {
    await setup(intToStr());
    await state.create({ metadata: ptr(Ints, 'counter'), spec: { value: 0 } });
    await eventuallyResource(state, ptr(Strs, 'counter'), (r) => expect(r?.spec.value).toBe('0'));
    await engine.settled(); // its own finalizer write on the input scheduled one more round: let it run
    const before = engine.stats()[0]!.wakeups;
    for (let i = 1; i <= 1000; i++) {
      await state.modify(ptr(Ints, 'counter'), (d) => void (d.spec.value = i));
    }
    await eventuallyResource(state, ptr(Strs, 'counter'), (r) => expect(r?.spec.value).toBe('1000'));
    const rounds = engine.stats()[0]!.wakeups - before;
    expect(rounds).toBeGreaterThanOrEqual(1);
    expect(rounds).toBeLessThan(50);
  });

  it('wakes destroy-ready inputs only when a tearing-down resource has no finalizers left', async () => {
    const reaper: Controller = {
      name: 'ReaperController',
      inputs: () => [inputOf(Ints, { kind: 'destroyReady' })],
      outputs: () => [outputOf(Strs)],
      async run(ctx) {
        for (let round = 1; await ctx.nextEvent(); round++) {
          const ints = await ctx.list(kindOf(Ints));
          const seen = ints.map((i) => `${i.metadata.id}:${i.metadata.phase}:${i.metadata.finalizers.length}`).join(',');
          await ctx.modify(ptr(Strs, 'observed'), (d) => void (d.spec.value = `round ${round}: ${seen}`));
        }
      },
    };
    await setup(reaper);
    await eventuallyResource(state, ptr(Strs, 'observed'), (r) => expect(r?.spec.value).toBe('round 1: '));
    const id = ptr(Ints, 'r');
    await state.create({ metadata: { ...id, finalizers: ['holder'] }, spec: { value: 1 } });
    await state.modify(id, (d) => void (d.spec.value = 2));
    await state.teardown(id);
    await engine.settled(); // any round these caused has run by now
    expect(engine.stats()[0]?.wakeups).toBe(1);
    await state.removeFinalizer(id, 'holder');
    await eventuallyResource(state, ptr(Strs, 'observed'), (r) => expect(r?.spec.value).toBe('round 2: r:tearingDown:0'));
  });

  it('lets a controller wake itself', async () => {
    let ticks = 0;
    const ticker: Controller = {
      name: 'TickerController',
      inputs: () => [],
      outputs: () => [outputOf(Strs)],
      async run(ctx) {
        while (await ctx.nextEvent()) {
          ticks++;
          await ctx.modify(ptr(Strs, 'ticks'), (d) => void (d.spec.value = String(ticks)));
          if (ticks < 5) setTimeout(() => ctx.trigger(), 1);
        }
      },
    };
    await setup(ticker);
    await eventuallyResource(state, ptr(Strs, 'ticks'), (r) => expect(r?.spec.value).toBe('5'));
  });

  it('accepts controllers after start, and stop leaves no timers or handles behind', async () => {
    const baseline = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length;
    await setup();
    engine.register(intToStr());
    engine.register(strToSentence());
    await state.create({ metadata: ptr(Ints, 'late'), spec: { value: 3 } });
    await eventuallyResource(state, ptr(Sentences, 'late'), (r) => expect(r?.spec.text).toBe('the number is 3'));
    const crashing: Controller = { name: 'CrashLoop', inputs: () => [], outputs: () => [], run: () => Promise.reject(new Error('always')) };
    engine.register(crashing);
    await eventually(interval(2), () => expect(engine.stats().find((s) => s.name === 'CrashLoop')?.crashes).toBeGreaterThan(2));
    await engine.stop();
    await new Promise((resolve) => setImmediate(resolve));
    expect(process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length).toBeLessThanOrEqual(baseline);
    expect(() => engine.register(intToStr())).toThrow(RegistrationError);
  });

  it('exports the dependency graph as JSON and DOT', async () => {
    await setup(intToStr(), strToSentence());
    const graph = engine.graph();
    expect(graph.resources).toEqual([Ints.type, Sentences.type, Strs.type]);
    expect(graph.edges).toEqual([
      { from: Ints.type, to: 'IntToStrController', kind: 'strong', direction: 'input' },
      { from: 'IntToStrController', to: Strs.type, kind: 'exclusive', direction: 'output' },
      { from: Strs.type, to: 'StrToSentenceController', kind: 'weak', direction: 'input' },
      { from: 'StrToSentenceController', to: Sentences.type, kind: 'exclusive', direction: 'output' },
    ]);
    const dot = graphToDot(graph);
    expect(dot).toMatch(/^digraph kubeprism \{/);
    expect(dot).toContain(`"${Ints.type}" -> "IntToStrController" [style=bold];`);
    expect(dot).toContain(`"StrToSentenceController" -> "${Sentences.type}";`);
  });
});
