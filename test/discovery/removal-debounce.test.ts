import { describe, expect, it } from 'vitest';
import type { MemberSpec } from '../../src/config/index.js';
import { RemovalDebounce } from '../../src/discovery/index.js';

// Time is passed in (ms); the removal delay is 30 s throughout.
const DELAY = 30_000;
const spec = (address: string, port = 6443): MemberSpec => ({
  nodeId: address,
  hostname: address,
  machineType: 'controlplane',
  addresses: [address],
  controlPlane: { apiServerPort: port },
});
const map = (...specs: MemberSpec[]) => new Map(specs.map((s) => [`k8s-${s.addresses[0]}`, s]));
const ids = (m: ReadonlyMap<string, unknown>) => [...m.keys()].sort();

describe('RemovalDebounce', () => {
  it('adds and updates at once; removes an absent member only once it has been absent for the whole delay', () => {
    const d = new RemovalDebounce();
    const a = spec('10.0.0.1');
    const b = spec('10.0.0.2');
    // t=0: both seen.
    let decision = d.decide(0, new Map(), map(a, b), DELAY);
    expect([ids(decision.members), decision.leaving, decision.nextCheckAt]).toEqual([['k8s-10.0.0.1', 'k8s-10.0.0.2'], [], undefined]);
    // t=1 s: b gone, a's port moved: a updated at once, b kept until 31 s.
    decision = d.decide(1_000, map(a, b), map(spec('10.0.0.1', 7000)), DELAY);
    expect(decision.members.get('k8s-10.0.0.1')?.controlPlane?.apiServerPort).toBe(7000);
    expect([decision.leaving, decision.nextCheckAt]).toEqual([['k8s-10.0.0.2'], 31_000]);
    // t=30.999 s: still inside the delay.
    decision = d.decide(30_999, map(a, b), map(a), DELAY);
    expect([ids(decision.members), decision.nextCheckAt]).toEqual([['k8s-10.0.0.1', 'k8s-10.0.0.2'], 31_000]);
    // t=31 s: the delay has passed; b goes, nothing left to wait for.
    decision = d.decide(31_000, map(a, b), map(a), DELAY);
    expect([ids(decision.members), decision.leaving, decision.nextCheckAt]).toEqual([['k8s-10.0.0.1'], [], undefined]);
  });

  it('restarts the clock when a member comes back inside the delay (churn while an API server restarts)', () => {
    const d = new RemovalDebounce();
    const [a, b] = [spec('10.0.0.1'), spec('10.0.0.2')];
    d.decide(0, map(a, b), map(a), DELAY); // b absent since 0
    d.decide(20_000, map(a, b), map(a, b), DELAY); // back at 20 s: clock cleared
    const decision = d.decide(40_000, map(a, b), map(a), DELAY); // absent again since 40 s, not since 0
    expect([ids(decision.members), decision.nextCheckAt]).toEqual([['k8s-10.0.0.1', 'k8s-10.0.0.2'], 70_000]);
  });

  it('keeps every member, with no clock, while nothing is known (not synced since the source started)', () => {
    const d = new RemovalDebounce();
    const current = map(spec('10.0.0.1'), spec('10.0.0.2'));
    const decision = d.decide(1_000_000, current, undefined, DELAY);
    expect([ids(decision.members), decision.leaving, decision.nextCheckAt]).toEqual([ids(current), [], undefined]);
  });

  it('removes at once with a zero delay, and forgets its clocks on reset', () => {
    const d = new RemovalDebounce();
    const [a, b] = [spec('10.0.0.1'), spec('10.0.0.2')];
    expect(ids(d.decide(5, map(a, b), map(a), 0).members)).toEqual(['k8s-10.0.0.1']);
    d.decide(0, map(a, b), map(a), DELAY);
    d.reset();
    expect(d.decide(DELAY, map(a, b), map(a), DELAY).nextCheckAt).toBe(2 * DELAY); // the clock starts anew
  });
});
