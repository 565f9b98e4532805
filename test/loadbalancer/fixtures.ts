import { onTestFinished } from 'vitest';
import { formatAddress } from '../../src/util/address.js';
import { LoadBalancer, type LoadBalancerDeps } from '../../src/loadbalancer/load-balancer.js';
import type { LoadBalancerOptionsInput } from '../../src/loadbalancer/options.js';
import { FakeApiServer, type FakeApiServerOptions } from '../harness/fake-apiserver.js';
import { loopback } from '../harness/ports.js';
import { TcpTestServer, type TcpTestServerOptions } from '../harness/tcp-server.js';
import { waitForSnapshot } from '../harness/wait.js';

/** Check timing for socket tests: fast enough that the suite stays short, slow enough for a busy CI box. */
export const INTERVAL_MS = 100;

/**
 * Default distance of fake API servers: 30 ms puts every upstream squarely inside the 10-100 ms tier, so
 * test-machine noise (a 3 ms check can read 12 ms on a busy box) never splits equal upstreams into
 * different tiers, which would send every connection to one of them.
 */
export const SAME_TIER_LATENCY_MS = 30;

/**
 * A fake API server on 127.0.0.n, or on the host given (a `randomLoopback()` one for a server restarted on
 * its port), 30 ms away unless `latencyMs` says otherwise, stopped when the test ends.
 */
export async function startApi(name: string, n: number | string, options: Partial<FakeApiServerOptions> = {}): Promise<FakeApiServer> {
  const host = typeof n === 'string' ? n : loopback(n);
  const server = await FakeApiServer.start({ name, host, latencyMs: SAME_TIER_LATENCY_MS, ...options });
  onTestFinished(() => server.stop());
  return server;
}

/** A plain TCP server on 127.0.0.n (identity + echo unless a handler is given), stopped when the test ends. */
export async function startTcp(name: string, n: number, options: Partial<TcpTestServerOptions> = {}): Promise<TcpTestServer> {
  const server = await TcpTestServer.start({ name, host: loopback(n), ...options });
  onTestFinished(() => server.stop());
  return server;
}

/** `host:port` of a test server, the way the balancer names upstreams. */
export function addressOf(server: { host: string; port: number }): string {
  return formatAddress(server.host, server.port);
}

/**
 * A configured balancer on an ephemeral loopback port with fast checks (readyz every 100 ms), closed
 * when the test ends. `options` are merged over those defaults.
 */
export function startLb(options: LoadBalancerOptionsInput = {}, deps: LoadBalancerDeps = {}): LoadBalancer {
  const lb = new LoadBalancer(deps);
  onTestFinished(() => lb.close({ drainTimeoutMs: 0 }));
  lb.configure({
    ...options,
    listen: { port: 0, ...options.listen },
    healthCheck: { mode: 'readyz', intervalMs: INTERVAL_MS, timeoutMs: 500, jitter: 0.1, ...options.healthCheck },
    dialTimeoutMs: options.dialTimeoutMs ?? 1_000,
  });
  return lb;
}

/** Wait for the balancer to listen and return its (main) port. */
export async function lbPort(lb: LoadBalancer): Promise<number> {
  const s = await waitForSnapshot(lb, (x) => x.listener.listening, 'the listener to come up');
  return (s.listener.addresses[0] as { port: number }).port;
}

/** Wait until every upstream of the balancer is healthy. */
export function allHealthy(lb: LoadBalancer, count: number): Promise<unknown> {
  return waitForSnapshot(lb, (s) => s.upstreams.length === count && s.upstreams.every((u) => u.healthy), `all ${count} upstreams healthy`);
}
