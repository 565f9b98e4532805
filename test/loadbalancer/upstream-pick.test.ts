import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UpstreamList, type UpstreamListOptions } from '../../src/loadbalancer/upstream-list.js';
import { FakeClock } from '../harness/fake-clock.js';
import { FakeBackend, setup } from './fake-backend.js';

// Selection, panic mode and reconcile of the pure policy, with a fake clock and fake backends.

describe('UpstreamList pick', () => {
  async function healthy(names: string[], options: UpstreamListOptions<FakeBackend> = {}) {
    const s = setup(names, options);
    s.list.reconcile(s.backends);
    await s.clock.advance(5);
    return s;
  }

  it('round-robins among equals', async () => {
    const { list, backends } = await healthy(['a', 'b', 'c']);
    const picks = Array.from({ length: 6 }, () => list.pick()?.name);
    expect(picks).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    expect(backends.every((b) => list.state(b)?.active === 0)).toBe(true); // no load given: nothing counted
  });

  it('sends new connections to the fewest active, as the caller counts them (load)', async () => {
    const active = new Map<FakeBackend, number>();
    const { list, backends } = await healthy(['a', 'b'], { load: (b) => active.get(b) ?? 0 });
    const [a, b] = backends as [FakeBackend, FakeBackend];
    /** Pick, and count a connection against the one picked, as the proxy does when it dials. */
    const connect = () => {
      const picked = list.pick() as FakeBackend;
      active.set(picked, (active.get(picked) ?? 0) + 1);
      return picked.name;
    };
    // Three long watches land on a, b, a.
    expect([connect(), connect(), connect()]).toEqual(['a', 'b', 'a']);
    expect(list.state(a)?.active).toBe(2); // the list reports the caller's count
    expect(connect()).toBe('b'); // b has fewer
    active.set(a, 0); // a's two connections ended
    expect(connect()).toBe('a'); // a: 0, b: 2
    expect(list.state(b)?.active).toBe(2);
  });

  it('skips excluded upstreams and returns undefined when all are excluded', async () => {
    const { list, backends } = await healthy(['a', 'b']);
    const [a, b] = backends as [FakeBackend, FakeBackend];
    expect(list.pick(new Set([a]))).toBe(b);
    expect(list.pick(new Set([a, b]))).toBeUndefined();
    expect(new UpstreamList<FakeBackend>().pick()).toBeUndefined();
  });

  it('falls back to unhealthy upstreams when every usable one is excluded (dial retry)', async () => {
    const { clock, list, backends } = await healthy(['a', 'b']);
    const [a, b] = backends as [FakeBackend, FakeBackend];
    b.failing();
    await clock.advance(1000);
    expect(list.pick()).toBe(a);
    expect(list.pick(new Set([a]))).toBe(b); // a was tried and failed: b is still worth a try
  });

  it('panic mode: when all are unhealthy every one is a candidate, best score first', async () => {
    const { clock, list, backends } = setup(['a', 'b', 'c']);
    const [a, b, c] = backends as [FakeBackend, FakeBackend, FakeBackend];
    a.failing();
    b.failing();
    c.failing();
    list.reconcile(backends);
    await clock.advance(5); // all: -1
    list.down(a, 'x'); // a: -2
    list.down(a, 'x'); // a: -3
    list.down(c, 'x'); // c: -2
    expect(list.anyHealthy()).toBe(false);
    expect(list.pick()).toBe(b); // b: -1 is the best score
    expect(list.pick(new Set([b]))).toBe(c); // then c: -2
    expect(list.pick(new Set([b, c]))).toBe(a); // then a: -3, still tried
  });

  it('panic mode breaks score ties by tier', async () => {
    const { clock, list, backends } = setup(['slow', 'fast']);
    const [slow, fast] = backends as [FakeBackend, FakeBackend];
    slow.ok(50);
    fast.ok(0.5);
    list.reconcile(backends);
    await clock.advance(60); // slow: tier 3, fast: tier 1, both score 1
    slow.failing();
    fast.failing();
    await clock.advance(1000); // both -1, tiers kept
    expect(list.pick()).toBe(fast);
  });

  it('before any check ends, all (unknown) upstreams are candidates', () => {
    const { list, backends } = setup(['a', 'b']);
    list.reconcile(backends);
    expect(backends).toContain(list.pick());
  });
});

describe('UpstreamList reconcile', () => {
  it('keeps survivors, checks the new one at once, stops checking the removed one', async () => {
    const active = new Map<FakeBackend, number>();
    const { clock, list, backends, changes } = setup(['a', 'b', 'c'], { load: (x) => active.get(x) ?? 0 });
    const [a, b, c] = backends as [FakeBackend, FakeBackend, FakeBackend];
    list.reconcile([a, b]);
    await clock.advance(5);
    await clock.advance(1000); // a, b: score 2
    expect(list.pick()).toBe(a);
    active.set(a, 1); // a connection to a
    b.hanging();
    await clock.advance(1000); // b's third check is in flight
    changes.length = 0;
    const result = list.reconcile([a, c]);
    expect(result).toEqual({ added: [c], removed: [b] });
    expect(list.state(a)).toMatchObject({ score: 3, active: 1 }); // survivor keeps its score (and its connection)
    expect(list.state(b)).toBeUndefined();
    expect(b.aborted).toBe(1); // its in-flight check was aborted
    expect(c.checks).toBe(1); // new one checked at once
    expect(changes.map((x) => [x.type, x.backend.name])).toEqual([
      ['removed', 'b'],
      ['added', 'c'],
    ]);
    const bChecks = b.checks;
    await clock.advance(5000);
    expect(b.checks).toBe(bChecks); // no more checks of a removed upstream
    list.down(b, 'gone'); // reporting on a removed one is harmless
  });

  it('matches survivors by key, keeping the original backend object', async () => {
    const clock = new FakeClock();
    const list = new UpstreamList<FakeBackend>({ clock, keyOf: (x) => x.name });
    const a1 = new FakeBackend('a', clock);
    const a2 = new FakeBackend('a', clock);
    list.reconcile([a1, a2]); // duplicate key collapses to the first
    expect(list.entries()).toHaveLength(1);
    await clock.advance(5);
    list.reconcile([a2]);
    expect(list.entries()[0]?.backend).toBe(a1);
    expect(list.state(a2)).toMatchObject({ score: 1 }); // looked up by key
    expect(a2.checks).toBe(0);
    list.stop();
  });

  it('setTiming reschedules idle checks; stop ends them all', async () => {
    const { clock, list, backends } = setup(['a']);
    const [a] = backends as [FakeBackend];
    list.reconcile([a]);
    await clock.advance(5);
    list.setTiming({ intervalMs: 100, timeoutMs: 50, jitter: 0 });
    await clock.advance(100);
    expect(a.startedAt).toEqual([0, 105]);
    await clock.advance(10);
    list.checkNow();
    expect(a.checks).toBe(3);
    list.stop();
    await clock.advance(10_000);
    expect(a.checks).toBe(3);
    expect(clock.pendingTimers()).toBe(0);
  });
});

describe('UpstreamList properties', () => {
  type Op = { op: 'ok' | 'fail' | 'down'; i: number; latency: number } | { op: 'pick'; exclude: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      op: fc.constantFrom('ok' as const, 'fail' as const, 'down' as const),
      i: fc.nat(3),
      latency: fc.double({ min: 0, max: 2000, noNaN: true }),
    }),
    fc.record({ op: fc.constant('pick' as const), exclude: fc.nat(15) }),
  );

  it('scores stay in bounds and pick obeys tiers, health and exclusions', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const { clock, list, backends } = setup(['a', 'b', 'c', 'd'], { minScore: -4, maxScore: 4, timeoutMs: 10_000 });
        list.reconcile(backends);
        await clock.advance(10);
        for (const o of ops) {
          if (o.op === 'pick') {
            const exclude = new Set(backends.filter((_, i) => (o.exclude >> i) & 1));
            const picked = list.pick(exclude);
            const open = list.entries().filter((e) => !exclude.has(e.backend));
            if (open.length === 0) {
              expect(picked).toBeUndefined();
              continue;
            }
            expect(picked).toBeDefined();
            expect(exclude.has(picked as FakeBackend)).toBe(false);
            const usable = open.filter((e) => e.state.healthy);
            if (usable.length > 0) {
              const best = Math.min(...usable.map((e) => e.state.tier));
              expect(list.state(picked as FakeBackend)).toMatchObject({ healthy: true, tier: best });
            } else {
              const top = Math.max(...open.map((e) => e.state.score));
              expect(list.state(picked as FakeBackend)?.score).toBe(top);
            }
          } else {
            const b = backends[o.i] as FakeBackend;
            if (o.op === 'down') list.down(b, 'dial');
            else {
              if (o.op === 'ok') b.ok(o.latency);
              else b.failing('x', o.latency);
              list.checkNow(b);
              await clock.advance(o.latency + 1);
            }
          }
          for (const e of list.entries()) {
            expect(e.state.score).toBeGreaterThanOrEqual(-4);
            expect(e.state.score).toBeLessThanOrEqual(4);
            expect(e.state.healthy).toBe(e.state.score > 0);
          }
        }
        list.stop();
      }),
      { numRuns: 100 },
    );
  });
});
