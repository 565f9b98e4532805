import { isDeepStrictEqual } from 'node:util';
import {
  LOAD_BALANCER_DEFAULTS,
  LoadBalancer,
  type LoadBalancerDeps,
  type LoadBalancerMetrics,
  type LoadBalancerOptions,
  type LoadBalancerSnapshot,
  type UpstreamEndpoint,
} from '../loadbalancer/index.js';
import {
  KUBEPRISM_CONFIG_ID,
  KUBEPRISM_ENDPOINTS_ID,
  KUBEPRISM_STATUS_ID,
  KubePrismConfigType,
  KubePrismEndpointsType,
  KubePrismStatusType,
  KubePrismUpstreamType,
  upstreamId,
  type SpecOfKubePrismConfig,
} from '../resources/index.js';
import { inputOf, kindOf, outputOf, ptr, type Controller, type ControllerContext, type Resource } from '../runtime/index.js';
import { listenerAddress } from './api-server-url.js';

/** Options of the balancer controller. */
export interface KubePrismControllerOptions {
  /** Collectors on the agent's registry, created once and handed to each balancer in turn. */
  readonly metrics?: LoadBalancerMetrics;
  /** How long stopping (agent shutdown or KubePrism disabled) lets proxied connections finish. */
  readonly drainTimeoutMs?: number;
  /** How often active-connection counts are refreshed into KubePrismUpstreams between health changes. */
  readonly connectionRefreshMs?: number;
  /** Bind-retry backoff and other balancer dependencies (tests shorten them). */
  readonly balancer?: Omit<LoadBalancerDeps, 'logger' | 'metrics'>;
}

/**
 * The balancer options a KubePrismConfig spec stands for: its settings as they are (the resource schema
 * is the balancer's own, already checked on write), around where to listen and the internal defaults.
 */
export function balancerOptions(spec: SpecOfKubePrismConfig, drainTimeoutMs: number): LoadBalancerOptions {
  const { host, port, listenAddresses, tlsServerName, ...settings } = spec;
  return {
    ...LOAD_BALANCER_DEFAULTS,
    ...settings,
    listen: { host, port, ipv6: listenAddresses.includes('::1') },
    ...(tlsServerName !== undefined ? { tlsServerName } : {}),
    drainTimeoutMs,
  };
}

/** What the balancer was last given, to hand it something only when that changed. */
interface Applied {
  readonly config: SpecOfKubePrismConfig;
  readonly endpoints: readonly UpstreamEndpoint[];
}

/**
 * Owns the live TCP proxy: starts it when KubePrism is enabled, moves the listener when host or port
 * change, feeds it the endpoint list, closes it (draining) when disabled or stopped, and mirrors its
 * state into KubePrismStatuses and KubePrismUpstreams. No other code opens or closes the listener.
 */
export function kubePrismController(options: KubePrismControllerOptions = {}): Controller {
  const drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
  const refreshMs = options.connectionRefreshMs ?? 10_000;
  return {
    name: 'KubePrismController',
    inputs: () => [
      inputOf(KubePrismConfigType, { id: KUBEPRISM_CONFIG_ID }),
      inputOf(KubePrismEndpointsType, { id: KUBEPRISM_ENDPOINTS_ID }),
    ],
    outputs: () => [outputOf(KubePrismStatusType), outputOf(KubePrismUpstreamType)],
    async run(ctx) {
      let balancer: LoadBalancer | undefined;
      let applied: Applied | undefined;
      let unsubscribe: (() => void) | undefined;
      // Connection counts move without a health change; refresh them now and then, not per connection.
      const refresh = setInterval(() => ctx.trigger(), refreshMs);
      refresh.unref();
      const shutdown = async (): Promise<void> => {
        unsubscribe?.();
        unsubscribe = undefined;
        const closing = balancer;
        balancer = undefined;
        applied = undefined;
        await closing?.close({ drainTimeoutMs });
      };
      try {
        while (await ctx.nextEvent()) {
          ctx.startTrackingOutputs();
          const config = await ctx.find(ptr(KubePrismConfigType, KUBEPRISM_CONFIG_ID));
          if (!config || config.metadata.phase === 'tearingDown') {
            if (balancer) ctx.logger.info('KubePrism disabled; closing the listener');
            await shutdown();
            await ctx.cleanupOutputs();
            continue;
          }
          if (!balancer) {
            balancer = new LoadBalancer({
              ...options.balancer,
              logger: ctx.logger,
              ...(options.metrics ? { metrics: options.metrics } : {}),
            });
            unsubscribe = balancer.onChange(() => ctx.trigger());
          }
          // Most wake-ups are health changes the balancer itself reported: hand it nothing then.
          if (!isDeepStrictEqual(applied?.config, config.spec)) balancer.applyOptions(balancerOptions(config.spec, drainTimeoutMs));
          const listed = await ctx.find(ptr(KubePrismEndpointsType, KUBEPRISM_ENDPOINTS_ID));
          const endpoints = (listed?.spec.endpoints ?? []).map(({ host, port }) => ({ host, port }));
          if (!isDeepStrictEqual(applied?.endpoints, endpoints)) balancer.setUpstreams(endpoints);
          applied = { config: config.spec, endpoints };
          await writeStatus(ctx, config.spec, balancer.snapshot());
          await ctx.cleanupOutputs();
        }
      } finally {
        clearInterval(refresh);
        await shutdown();
      }
    },
  };
}

/**
 * Why the balancer cannot serve, for the status: the listener's bind error, no endpoints at all, or no
 * usable upstream with each one's last error (so `kps` alone says why, not only that, it is unhealthy).
 */
function statusError(snapshot: LoadBalancerSnapshot): string | undefined {
  if (snapshot.listener.error !== undefined) return snapshot.listener.error;
  if (snapshot.upstreams.length === 0) return 'no upstream endpoints';
  if (snapshot.healthy) return undefined;
  const failing = snapshot.upstreams.filter((u) => u.lastError !== undefined);
  const unchecked = snapshot.upstreams.length - failing.length;
  const reasons = failing.map((u) => `${u.address}: ${u.lastError}`);
  if (unchecked > 0) reasons.push(`${unchecked} not checked yet`);
  return `no healthy upstream (${reasons.join('; ')})`;
}

async function writeStatus(ctx: ControllerContext, config: SpecOfKubePrismConfig, snapshot: LoadBalancerSnapshot): Promise<void> {
  const error = statusError(snapshot);
  await ctx.modify(ptr(KubePrismStatusType, KUBEPRISM_STATUS_ID), (draft) => {
    draft.spec = {
      host: listenerAddress(config),
      healthy: snapshot.healthy,
      listening: snapshot.listener.listening,
      ...(error !== undefined ? { error } : {}),
    };
  });
  const stored = new Map<string, Resource<{ healthy: boolean; score: number; tier: number; latencyMs?: number }>>(
    (await ctx.list(kindOf(KubePrismUpstreamType))).map((r) => [r.metadata.id, r]),
  );
  for (const u of snapshot.upstreams) {
    const id = upstreamId(u.host, u.port);
    const previous = stored.get(id)?.spec;
    // Latency moves on every check; it is written with health, tier or score changes only.
    const judged = !previous || previous.healthy !== u.healthy || previous.score !== u.score || previous.tier !== u.tier;
    const latencyMs = judged ? u.latencyMs : previous.latencyMs;
    await ctx.modify(ptr(KubePrismUpstreamType, id), (draft) => {
      draft.spec = {
        host: u.host,
        port: u.port,
        healthy: u.healthy,
        score: u.score,
        tier: u.tier,
        ...(latencyMs !== undefined ? { latencyMs: Math.round(latencyMs * 1000) / 1000 } : {}),
        activeConnections: u.activeConnections,
        ...(u.lastError !== undefined ? { lastError: u.lastError } : {}),
      };
    });
  }
}
