/**
 * The fleet behaviours (slow start, paced re-homing, rebalancing) as balancer options, on and off, and
 * whether this build of the balancer has them at all.
 */
import { parseLoadBalancerOptions, type LoadBalancerOptionsInput } from '../../src/loadbalancer/index.js';
import { KubeprismError } from '../../src/runtime/errors.js';

/** The two sides every scenario runs with. */
export type Side = 'off' | 'on';

/**
 * The one place where the behaviours' option names live. "off" is the balancer as it was before them
 * (every connection of a failed upstream closed at once, no ramp, no rebalancing); "on" is their
 * defaults, spelled out so that a build without them rejects it.
 */
export function fleetBehaviourOptions(side: Side): Record<string, unknown> {
  return side === 'off'
    ? { slowStartMs: 0, closeSpreadMs: 0, rebalance: { enabled: false } }
    : { slowStartMs: 30_000, closeSpreadMs: 5_000, rebalance: { enabled: true, tolerance: 1.1, idleForMs: 1_000, intervalMs: 30_000 } };
}

/** What a side runs with, or why it cannot run. */
export type SideOptions = { available: true; options: LoadBalancerOptionsInput; note?: string } | { available: false; reason: string };

/** Options of a balancer built before the fleet behaviours (what "off" means when they are absent). */
const OPTIONS_BEFORE_BEHAVIOURS = new Set([
  'listen',
  'healthCheck',
  'tlsServerName',
  'closeConnectionsOnDown',
  'maxConnections',
  'stallTimeoutMs',
  'dialTimeoutMs',
  'firstByteTimeoutMs',
  'drainTimeoutMs',
]);

/**
 * Resolve both sides against this build, the way `LoadBalancer.configure` will judge them. A build
 * without the behaviours rejects their options (ValidationError): "on" is then not available, and
 * "off" is the balancer's plain defaults, which is today's behaviour. A build that has options
 * unknown here but rejects these names was changed under other names: that is an error to fix in
 * {@link fleetBehaviourOptions}, not a silent "off" run with the behaviours on.
 */
export function resolveSides(parse: (input: unknown) => unknown = parseLoadBalancerOptions): Record<Side, SideOptions> {
  const tryParse = (input: Record<string, unknown>): string | undefined => {
    try {
      parse({ listen: { port: 0 }, ...input });
      return undefined;
    } catch (err) {
      if (err instanceof KubeprismError && err.code === 'KP_ERR_VALIDATION') return err.message;
      throw err;
    }
  };
  const offError = tryParse(fleetBehaviourOptions('off'));
  const onError = tryParse(fleetBehaviourOptions('on'));
  if (offError === undefined && onError === undefined) {
    return {
      off: { available: true, options: fleetBehaviourOptions('off') },
      on: { available: true, options: fleetBehaviourOptions('on') },
    };
  }
  const defaults = parse({ listen: { port: 0 } });
  const newer = Object.keys(defaults as object).filter((k) => !OPTIONS_BEFORE_BEHAVIOURS.has(k));
  if (newer.length > 0 || offError === undefined || onError === undefined) {
    throw new Error(
      `bench:fleet: the balancer's options changed (${newer.length > 0 ? `new: ${newer.join(', ')}; ` : ''}` +
        `off: ${offError ?? 'accepted'}; on: ${onError ?? 'accepted'}). Update fleetBehaviourOptions() in bench/fleet/behaviours.ts.`,
    );
  }
  return {
    off: { available: true, options: {}, note: 'this build has no fleet behaviours: "off" is its default behaviour' },
    on: { available: false, reason: `not available in this build (${onError})` },
  };
}
