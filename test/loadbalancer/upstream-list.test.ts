import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UpstreamList, type Backend } from '../../src/loadbalancer/upstream-list.js';
import { FakeClock } from '../harness/fake-clock.js';
import { FakeBackend, score, setup } from './fake-backend.js';

// The pure policy with a fake clock and fake backends: no sockets, every step's expected score stated.

describe('UpstreamList purity', () => {
  it('imports nothing that does I/O (policy apart from sockets)', () => {
    for (const file of ['upstream-list', 'upstream-types', 'score', 'tier', 'clock', 'errors']) {
      const text = readFileSync(new URL(`../../src/loadbalancer/${file}.ts`, import.meta.url), 'utf8');
      expect(text, file).not.toMatch(/from 'node:(net|tls|https?|dgram|dns)'/);
    }
  });
});

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
    const clock = new FakeClock();
    const thrower: Backend = {
      healthCheck: () => {
        throw new Error('sync throw');
      },
    };
    const rejecter: Backend = { healthCheck: () => Promise.reject(new Error('async reject')) };
    const list = new UpstreamList<Backend>({ clock });
    list.reconcile([thrower, rejecter]);
    await clock.advance(1);
    expect(list.state(thrower)).toMatchObject({ score: -1, lastError: 'sync throw' });
    expect(list.state(rejecter)).toMatchObject({ score: -1, lastError: 'async reject' });
    list.stop();
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
