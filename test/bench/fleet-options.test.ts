import { describe, expect, it } from 'vitest';
import { fleetBehaviourOptions, resolveSides } from '../../bench/fleet/behaviours.js';
import { faultEndMs, faultScript, parseFleetArgs, SCENARIOS } from '../../bench/fleet/scenarios.js';
import { parseLoadBalancerOptions } from '../../src/loadbalancer/index.js';
import { ValidationError } from '../../src/runtime/errors.js';

/** A balancer options parser that knows `fields` on top of today's defaults, rejecting other keys like the real one. */
function parserKnowing(fields: Record<string, unknown>): (input: unknown) => unknown {
  return (input) => {
    const { listen, ...rest } = input as Record<string, unknown>;
    const unknown = Object.keys(rest).filter((k) => !(k in fields));
    if (unknown.length > 0) throw new ValidationError(`invalid load balancer options: unknown field(s): ${unknown.join(', ')}`, []);
    return { ...parseLoadBalancerOptions({ listen }), ...fields, ...rest };
  };
}

describe('fleet behaviours as balancer options', () => {
  it('in a build without them, runs "off" as the plain defaults and reports "on" as not available', () => {
    const sides = resolveSides(parserKnowing({}));
    expect(sides.off).toMatchObject({ available: true, options: {} });
    expect(sides.on).toMatchObject({ available: false, reason: expect.stringMatching(/^not available in this build.*slowStartMs/) });
  });

  it("agrees with this build's balancer: the off side can always run, the on side whenever the options exist", () => {
    const sides = resolveSides();
    expect(sides.off.available).toBe(true);
    if (sides.on.available) expect(sides.off).toEqual({ available: true, options: fleetBehaviourOptions('off') });
    else expect(sides.off).toMatchObject({ options: {} });
  });

  it('in a build with them, passes each side its options', () => {
    const sides = resolveSides(parserKnowing({ slowStartMs: 30_000, closeSpreadMs: 5_000, rebalance: {} }));
    expect(sides.off).toEqual({ available: true, options: fleetBehaviourOptions('off') });
    expect(sides.on).toEqual({ available: true, options: fleetBehaviourOptions('on') });
    expect(fleetBehaviourOptions('off')).toEqual({ slowStartMs: 0, closeSpreadMs: 0, rebalance: { enabled: false } });
  });

  it('refuses to run "off" as plain defaults in a build whose behaviours have other names', () => {
    expect(() => resolveSides(parserKnowing({ slowStart: 30_000 }))).toThrow(/new: slowStart.*fleetBehaviourOptions/);
  });
});

describe('fleet scenarios and arguments', () => {
  it('plays each outage as a down and an up step, in time order', () => {
    expect(faultScript(SCENARIOS.a)).toEqual([
      { atMs: 0, server: 0, action: 'readyz500' },
      { atMs: 60_000, server: 0, action: 'readyz200' },
    ]);
    expect(faultScript(SCENARIOS.c).map((s) => `${s.atMs / 1000}:${s.server}:${s.action}`)).toEqual([
      '0:0:kill',
      '5:0:restart',
      '60:1:kill',
      '65:1:restart',
      '120:2:kill',
      '125:2:restart',
    ]);
    expect(faultEndMs(SCENARIOS.b)).toBe(30_000);
  });

  it('has full and quick defaults, and names the option that is wrong', () => {
    expect(parseFleetArgs([])).toMatchObject({
      agents: 100,
      connectionsPerAgent: 10,
      workers: 4,
      scenarios: ['a', 'b', 'c'],
      observeMs: 300_000,
    });
    expect(parseFleetArgs(['--quick'])).toMatchObject({ agents: 20, workers: 2, observeMs: 120_000, quick: true });
    expect(parseFleetArgs(['--scenarios=c,a', '--sides=off', '--agents=3'])).toMatchObject({
      scenarios: ['a', 'c'],
      sides: ['off'],
      agents: 3,
    });
    expect(() => parseFleetArgs(['--agents=0'])).toThrow(/--agents=0: must be a whole number from 1/);
    expect(() => parseFleetArgs(['--scenarios=d'])).toThrow(/--scenarios=d: expected a comma-separated list of a, b, c/);
    expect(() => parseFleetArgs(['--agent=5'])).toThrow(/unknown option\(s\) --agent=5/);
  });
});
