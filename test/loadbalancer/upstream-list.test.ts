import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UpstreamList, type Backend, type UpstreamChange, type UpstreamListOptions } from '../../src/loadbalancer/upstream-list.js';
import { FakeClock } from '../harness/fake-clock.js';

/** What a fake backend's next checks do. */
type Behaviour = { kind: 'ok'; latencyMs: number } | { kind: 'fail'; latencyMs: number; message: string } | { kind: 'hang' };

/** A backend whose checks take fake time and succeed, fail or hang on command. */
class FakeBackend implements Backend {
  behaviour: Behaviour = { kind: 'ok', latencyMs: 5 };
  checks = 0;
  inFlight = 0;
  maxInFlight = 0;
  aborted = 0;
  readonly startedAt: number[] = [];

  constructor(
    readonly name: string,
    private readonly clock: FakeClock,
  ) {}

  ok(latencyMs: number): this {
    this.behaviour = { kind: 'ok', latencyMs };
    return this;
  }

  failing(message = 'boom', latencyMs = 1): this {
    this.behaviour = { kind: 'fail', latencyMs, message };
    return this;
  }

  hanging(): this {
    this.behaviour = { kind: 'hang' };
    return this;
  }

  async healthCheck(signal: AbortSignal): Promise<void> {
    this.checks++;
    this.startedAt.push(this.clock.now());
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    signal.addEventListener('abort', () => this.aborted++, { once: true });
    const b = this.behaviour;
    try {
      if (b.kind === 'hang') return await new Promise<void>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      await this.clock.sleep(b.latencyMs, signal);
      if (b.kind === 'fail') throw new Error(b.message);
    } finally {
      this.inFlight--;
    }
  }
}

function setup(names: string[], options: UpstreamListOptions<FakeBackend> = {}) {
  const clock = new FakeClock();
  // random() = 0.5 → zero jitter: checks every interval exactly, unless a test says otherwise.
  const list = new UpstreamList<FakeBackend>({ clock, random: () => 0.5, intervalMs: 1000, timeoutMs: 500, jitter: 0.1, ...options });
  const backends = names.map((n) => new FakeBackend(n, clock));
  const changes: UpstreamChange<FakeBackend>[] = [];
  list.onChange((c) => changes.push(c));
  return { clock, list, backends, changes };
}

const score = (list: UpstreamList<FakeBackend>, b: FakeBackend) => list.state(b)?.score;

describe('UpstreamList scoring', () => {
  it('checks a new upstream at once and scores a signed streak within bounds', async () => {
    const { clock, list, backends } = setup(['a'], { minScore: -3, maxScore: 3 });
    const [a] = backends as [FakeBackend];
    list.reconcile([a]);
    expect(a.checks).toBe(1); // checked at once, not after an interval
    expect(list.state(a)).toMatchObject({ score: 0, healthy: false }); // unknown until the check ends
    await clock.advance(5);
    expect(list.state(a)).toMatchObject({ score: 1, healthy: true, tier: 2, latencyMs: 5 }); // 5 ms → tier <10ms
    await clock.advance(1000);
    expect(score(list, a)).toBe(2); // second success
    await clock.advance(1000);
    expect(score(list, a)).toBe(3); // third: at maxScore
    await clock.advance(1000);
    expect(score(list, a)).toBe(3); // stays at the bound
    a.failing('readyz answered 500');
    await clock.advance(1000);
    expect(list.state(a)).toMatchObject({ score: -1, healthy: false, lastError: 'readyz answered 500' }); // one failure: down at once
    await clock.advance(1000);
    expect(score(list, a)).toBe(-2);
    await clock.advance(1000);
    expect(score(list, a)).toBe(-3); // at minScore
    await clock.advance(1000);
    expect(score(list, a)).toBe(-3); // stays at the bound
    a.ok(5);
    await clock.advance(1000);
    expect(list.state(a)).toMatchObject({ score: 1, healthy: true }); // one success: back in rotation
    expect(list.state(a)?.lastError).toBeUndefined(); // cleared by the success
  });

  it('runs the checks of all upstreams concurrently, each on its own schedule', async () => {
    const { clock, list, backends } = setup(['a', 'b', 'c']);
    for (const b of backends) b.ok(300);
    let concurrent = 0;
    list.reconcile(backends);
    concurrent = backends.reduce((n, b) => n + b.inFlight, 0);
    expect(concurrent).toBe(3); // all three in flight at t=0, not one after another
    await clock.advance(2500);
    for (const b of backends) expect(b.startedAt).toEqual([0, 1000, 2000]); // start-to-start spacing = interval
  });

  it('bounds each check by the timeout and aborts its signal', async () => {
    const { clock, list, backends } = setup(['a']);
    const [a] = backends as [FakeBackend];
    a.hanging();
    list.reconcile([a]);
    await clock.advance(499);
    expect(score(list, a)).toBe(0); // still pending
    await clock.advance(1);
    expect(a.aborted).toBe(1);
    expect(list.state(a)).toMatchObject({ score: -1, lastError: 'health check timed out after 500 ms' });
    await clock.advance(500);
    expect(a.checks).toBe(2); // next one a full interval after the start of the timed-out one
  });

  it('spreads checks by the jitter', async () => {
    let r = 0;
    const { clock, list, backends } = setup(['a'], { random: () => r, jitter: 0.2 });
    const [a] = backends as [FakeBackend];
    a.ok(0);
    r = 0; // lowest draw: interval × (1 − 0.2) = 800
    list.reconcile([a]);
    await clock.advance(800);
    expect(a.startedAt).toEqual([0, 800]);
    r = 0.99999; // highest draw: ~1200
    await clock.advance(1200);
    expect(a.startedAt).toEqual([0, 800, 1600]); // drawn when the 800 check ended: 800 later
    await clock.advance(1200);
    expect(a.startedAt[3]).toBeCloseTo(2800, 0); // drawn at 1600 with the high value: ~1200 later
  });

  it('treats a throwing or rejecting backend as a failed check', async () => {
    const { clock, list } = setup([]);
    const thrower: Backend = {
      healthCheck: () => {
        throw new Error('sync throw');
      },
    };
    const l2 = new UpstreamList<Backend>({ clock });
    l2.reconcile([thrower]);
    await clock.advance(1);
    expect(l2.state(thrower)).toMatchObject({ score: -1, lastError: 'sync throw' });
    list.stop();
    l2.stop();
  });

  it('marks an upstream down at once on a dial failure', async () => {
    const { clock, list, backends, changes } = setup(['a']);
    const [a] = backends as [FakeBackend];
    list.reconcile([a]);
    await clock.advance(5);
    await clock.advance(1000);
    expect(score(list, a)).toBe(2);
    changes.length = 0;
    list.down(a, 'connect ECONNREFUSED');
    expect(list.state(a)).toMatchObject({ score: -1, healthy: false, lastError: 'connect ECONNREFUSED' }); // streak reset to -1
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ type: 'updated', previous: { score: 2, healthy: true }, state: { score: -1 } });
    list.down(a, 'again');
    expect(score(list, a)).toBe(-2); // a second dial failure sinks it further
  });
});

describe('UpstreamList tiers', () => {
  it('prefers the best tier with a usable upstream', async () => {
    const { clock, list, backends } = setup(['fast', 'slow']);
    const [fast, slow] = backends as [FakeBackend, FakeBackend];
    fast.ok(0.5); // tier 1 (<1ms)
    slow.ok(5); // tier 2 (<10ms)
    list.reconcile(backends);
    await clock.advance(10);
    expect(list.state(fast)?.tier).toBe(1);
    expect(list.state(slow)?.tier).toBe(2);
    for (let i = 0; i < 10; i++) expect(list.pick()).toBe(fast);
    fast.failing();
    await clock.advance(1000);
    expect(list.pick()).toBe(slow); // fast is down: the next tier serves
  });

  it('promotes at once but demotes only after three slower measurements in a row', async () => {
    const { clock, list, backends } = setup(['a']);
    const [a] = backends as [FakeBackend];
    a.ok(5);
    list.reconcile([a]);
    await clock.advance(60); // checks start at 0, 1000, 2000…; advancing to x060 lets a 50 ms check end
    expect(list.state(a)?.tier).toBe(2); // 5 ms
    a.ok(50);
    await clock.advance(1000);
    expect(list.state(a)?.tier).toBe(2); // one 50 ms outlier: stays
    a.ok(5);
    await clock.advance(1000);
    a.ok(50);
    await clock.advance(1000);
    await clock.advance(1000);
    expect(list.state(a)?.tier).toBe(2); // outliers not three in a row: stays
    a.ok(400); // slower still: the demotion goes to the best of the three (tier 3), not the worst
    await clock.advance(1500); // the 400 ms check started at 5000 ends at 5400
    expect(list.state(a)?.tier).toBe(3); // three in a row: demoted to <100ms
    a.ok(0.05);
    await clock.advance(1000);
    expect(list.state(a)?.tier).toBe(0); // faster: promoted at once
  });

  it('notifies on health, tier or score changes only', async () => {
    const { clock, list, backends, changes } = setup(['a'], { maxScore: 2 });
    const [a] = backends as [FakeBackend];
    list.reconcile([a]);
    expect(changes.map((c) => c.type)).toEqual(['added']);
    await clock.advance(5); // score 0 → 1, tier 5 → 2
    await clock.advance(1000); // score 1 → 2
    await clock.advance(1000); // at the bound, same tier: nothing
    await clock.advance(1000); // nothing
    expect(changes.map((c) => [c.type, c.state.score, c.state.tier])).toEqual([
      ['added', 0, 5],
      ['updated', 1, 2],
      ['updated', 2, 2],
    ]);
  });
});

describe('UpstreamList pick', () => {
  async function healthy(names: string[]) {
    const s = setup(names);
    s.list.reconcile(s.backends);
    await s.clock.advance(5);
    return s;
  }

  it('round-robins among equals', async () => {
    const { list, backends } = await healthy(['a', 'b', 'c']);
    const picks = Array.from({ length: 6 }, () => list.pick()?.name);
    expect(picks).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    expect(backends.every((b) => list.state(b)?.active === 0)).toBe(true); // pick alone reserves nothing
  });

  it('sends new connections to the fewest active, and release frees a slot', async () => {
    const { list, backends } = await healthy(['a', 'b']);
    const [a, b] = backends as [FakeBackend, FakeBackend];
    // Three long watches land on a, b, a.
    expect([list.acquire(), list.acquire(), list.acquire()].map((x) => x?.name)).toEqual(['a', 'b', 'a']);
    expect(list.state(a)?.active).toBe(2);
    expect(list.acquire()).toBe(b); // b has fewer
    list.release(a);
    list.release(a);
    expect(list.acquire()).toBe(a); // a: 0, b: 2
    list.release(b);
    list.release(b);
    list.release(b); // extra releases never go below 0
    expect(list.state(b)?.active).toBe(0);
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
    const { clock, list, backends, changes } = setup(['a', 'b', 'c']);
    const [a, b, c] = backends as [FakeBackend, FakeBackend, FakeBackend];
    list.reconcile([a, b]);
    await clock.advance(5);
    await clock.advance(1000); // a, b: score 2
    expect(list.acquire()).toBe(a);
    b.hanging();
    await clock.advance(1000); // b's third check is in flight
    changes.length = 0;
    const result = list.reconcile([a, c]);
    expect(result).toEqual({ added: [c], removed: [b] });
    expect(list.state(a)).toMatchObject({ score: 3, active: 1 }); // survivor keeps score and connection count
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
    list.release(b); // releasing a removed one is harmless
    list.down(b, 'gone');
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
    fc.record({ op: fc.constantFrom('ok' as const, 'fail' as const, 'down' as const), i: fc.nat(3), latency: fc.double({ min: 0, max: 2000, noNaN: true }) }),
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
