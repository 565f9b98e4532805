import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LoadBalancerMetrics } from '../../src/loadbalancer/metrics.js';
import { whoAnswers } from '../harness/fake-apiserver.js';
import { connectTo } from '../harness/ports.js';
import { waitForSnapshot } from '../harness/wait.js';
import { addressOf, allHealthy, lbPort, startApi, startLb } from './fixtures.js';

/** The value of one series in Prometheus text, or undefined when the series is absent. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('LoadBalancerMetrics', () => {
  it('exposes per-upstream health, tier, connections, bytes, dial failures and check latency on the given registry', async () => {
    const registry = new Registry();
    const metrics = new LoadBalancerMetrics(registry);
    const a = await startApi('a', 2);
    const b = await startApi('b', 3);
    const lb = startLb({ maxConnections: 1 }, { metrics });
    lb.setUpstreams([a.endpoint, b.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 2);
    await whoAnswers('127.0.0.1', port);
    // Its connection closes a moment after the answer: until then the limit would refuse `held`.
    await waitForSnapshot(lb, (s) => s.connections.active === 0, 'the first connection closed');
    const held = await connectTo('127.0.0.1', port); // fills the limit of 1…
    held.on('error', () => undefined);
    const refused = await connectTo('127.0.0.1', port); // …so this one is refused
    refused.on('error', () => undefined);
    await waitForSnapshot(
      lb,
      (s) => s.connections.refused === 1 && s.upstreams.some((u) => u.activeConnections === 1),
      'one held, one refused',
    );
    await b.stop();
    held.destroy();
    await waitForSnapshot(lb, (s) => s.connections.active === 0, 'no connection left');
    await whoAnswers('127.0.0.1', port).catch(() => undefined); // may dial b first and fail over
    await waitForSnapshot(lb, (s) => s.upstreams.some((u) => !u.healthy) && s.connections.active === 0, 'b down, no connection open');

    const text = await registry.metrics();
    const ua = `{upstream="${addressOf(a)}"}`;
    const ub = `{upstream="${addressOf(b)}"}`;
    expect(value(text, `kubeprism_upstream_healthy${ua}`)).toBe(1);
    expect(value(text, `kubeprism_upstream_healthy${ub}`)).toBe(0);
    expect(value(text, `kubeprism_upstream_tier${ua}`)).toBe(3); // 30 ms fake servers
    expect(value(text, `kubeprism_upstream_score${ua}`)).toBeGreaterThan(0);
    expect(value(text, `kubeprism_upstream_latency_seconds${ua}`)).toBeGreaterThan(0.01);
    const total =
      (value(text, `kubeprism_upstream_connections_total${ua}`) ?? 0) + (value(text, `kubeprism_upstream_connections_total${ub}`) ?? 0);
    expect(total).toBeGreaterThanOrEqual(2);
    expect(value(text, `kubeprism_upstream_received_bytes_total${ua}`)).toBeGreaterThan(0);
    expect(value(text, `kubeprism_upstream_sent_bytes_total${ua}`)).toBeGreaterThan(0);
    expect(value(text, `kubeprism_upstream_active_connections${ua}`)).toBe(0);
    expect(value(text, `kubeprism_upstream_dial_failures_total${ua}`)).toBe(0);
    expect(value(text, `kubeprism_upstream_check_duration_seconds_count{upstream="${addressOf(a)}",result="success"}`)).toBeGreaterThan(0);
    expect(value(text, 'kubeprism_listener_up')).toBe(1);
    expect(value(text, 'kubeprism_healthy')).toBe(1);
    expect(value(text, 'kubeprism_connections_refused_total')).toBe(1);

    // Removing an upstream removes its series, pulled and pushed alike.
    lb.setUpstreams([a.endpoint]);
    const after = await registry.metrics();
    expect(after).not.toContain(addressOf(b));
    expect(after).toContain(addressOf(a));

    // Once closed, the per-upstream series are gone and the listener reads 0; the collectors stay
    // registered for the next balancer.
    await lb.close({ drainTimeoutMs: 0 });
    const closed = await registry.metrics();
    expect(closed).not.toContain('upstream="');
    expect(value(closed, 'kubeprism_listener_up')).toBe(0);
  });

  it('never touches the global registry and can be created once per registry', async () => {
    const { register } = await import('prom-client');
    const before = (await register.getMetricsAsJSON()).length;
    new LoadBalancerMetrics(new Registry());
    new LoadBalancerMetrics(new Registry());
    expect((await register.getMetricsAsJSON()).length).toBe(before);
    const shared = new Registry();
    new LoadBalancerMetrics(shared, { prefix: 'a_' });
    new LoadBalancerMetrics(shared, { prefix: 'b_' }); // two balancers on one registry need two prefixes
    expect((await shared.getMetricsAsJSON()).some((m) => m.name === 'b_listener_up')).toBe(true);
  });
});
