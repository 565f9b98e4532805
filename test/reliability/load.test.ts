import { describe, expect, it, onTestFinished } from 'vitest';
import { KUBEPRISM_STATUS_ID, KubePrismStatusType, KubePrismUpstreamType, upstreamId } from '../../src/resources/index.js';
import { ptr } from '../../src/runtime/index.js';
import { eventuallyResource } from '../harness/eventually.js';
import { connectionBudget, IntegrityLoad } from '../harness/integrity-load.js';
import { fixedPort, loopback } from '../harness/ports.js';
import { TcpTestServer } from '../harness/tcp-server.js';
import { waitFor } from '../harness/wait.js';
import { agentMetric, balancedConfig, startAgent } from './fixture.js';

// 2,000 client connections held open at once through the agent's own listener (config file → chain →
// balancer), each moving 64 KiB each way, every byte checked at both ends. Client, agent and upstream
// share this process, so each connection costs 4 file descriptors here. (The slow-reader memory bound is
// measured on the spawned binary, in binary-faults.test.ts.)

const WANTED = 2000;
const SIZE = 64 * 1024;
const FDS_PER_CONNECTION = 4;
/** Descriptors for everything else in the process (vitest, the agent's files, health checks). */
const SPARE_FDS = 512;

describe('reliability: load through the agent', () => {
  it('2,000 concurrent connections through the agent listener, every byte checked both ways', async (ctx) => {
    const { n, limit } = connectionBudget(ctx, WANTED, FDS_PER_CONNECTION, SPARE_FDS);
    expect(n).toBeGreaterThan(200);

    const load = new IntegrityLoad(n, SIZE);
    const server = await TcpTestServer.start({ name: 'bulk', host: loopback(16), handler: load.handler });
    onTestFinished(() => server.stop());
    const port = await fixedPort();
    const f = await startAgent({
      config: balancedConfig({ port, endpoint: server.endpoint, mode: 'tcp', intervalMs: 1000, timeoutMs: 500 }),
    });
    onTestFinished(() => f.stop());
    await eventuallyResource(f.state, ptr(KubePrismStatusType, KUBEPRISM_STATUS_ID), (r) =>
      expect(r?.spec).toMatchObject({ listening: true, healthy: true }),
    );

    const started = performance.now();
    const results = load.run(port);
    await waitFor(() => load.hello === n, {
      description: `all ${n} connections open through the agent`,
      pollMs: 20,
      timeoutMs: 30_000,
      detail: () => ({ hello: load.hello }),
    });
    const openMs = performance.now() - started;
    // All at once, as the agent counts them, in its metrics and (refreshed every 100 ms) its resources.
    expect(await agentMetric(f.agent, 'kubeprism_connections')).toBe(n);
    await eventuallyResource(f.state, ptr(KubePrismUpstreamType, upstreamId(server.host, server.port)), (r) =>
      expect(r?.spec.activeConnections).toBe(n),
    );

    const received = await results;
    const seconds = (performance.now() - started) / 1000;
    expect(load.failures(received)).toEqual([]);
    expect(load.upstreamChecks).toHaveLength(n);
    for (const name of [
      'kubeprism_connections_failed_total',
      'kubeprism_connections_refused_total',
      'kubeprism_connections_stalled_total',
      'kubeprism_upstream_dial_failures_total',
    ]) {
      expect(await agentMetric(f.agent, name), name).toBe(0);
    }
    await eventuallyResource(f.state, ptr(KubePrismUpstreamType, upstreamId(server.host, server.port)), (r) =>
      expect(r?.spec.activeConnections).toBe(0),
    );
    console.info(
      `load: ${n} connections open at once through the agent after ${openMs.toFixed(0)} ms; ${((2 * n * SIZE) / 2 ** 20).toFixed(0)} MiB moved intact in ${seconds.toFixed(1)} s; ` +
        `0 failed, 0 refused, 0 dial failures (open-files limit ${limit})`,
    );
  }, 90_000);
});
