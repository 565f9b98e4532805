import { createServer, type Socket } from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { LoadBalancerMetrics } from '../../src/loadbalancer/metrics.js';
import type { ProxiedConnection } from '../../src/loadbalancer/proxied-connection.js';
import type { ProxyUpstream, UpstreamPicker } from '../../src/loadbalancer/proxy-types.js';
import { TcpProxy } from '../../src/loadbalancer/tcp-proxy.js';
import { createLogger } from '../../src/runtime/logger.js';
import { closeServer, connectTo, listen, loopback } from '../harness/ports.js';
import { readLine } from '../harness/tcp-server.js';
import { waitFor, waitForEvent } from '../harness/wait.js';
import { startTcp } from './fixtures.js';

// An illegal transition is a bug in the proxy. Met inside a socket handler or a sweep it must not escape
// (an exception there would end the agent): it is logged at error with its stack, the connection's state
// and the event, counted, and that one connection is torn down while the others go on.

type Conn = ProxiedConnection<ProxyUpstream>;

/** A TcpProxy on real sockets in front of `upstream`, recording its log lines; its connections as accepted. */
async function proxyTo(endpoint: { host: string; port: number }) {
  const upstream: ProxyUpstream = { ...endpoint, stats: { totalConnections: 0, dialFailures: 0, bytesIn: 0, bytesOut: 0 } };
  const picker: UpstreamPicker<ProxyUpstream> = { pick: (tried) => (tried.has(upstream) ? undefined : upstream), down: () => undefined };
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger(
    { level: 'debug' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const options = { maxConnections: 10, stallTimeoutMs: 30_000, dialTimeoutMs: 1_000, firstByteTimeoutMs: 0 };
  const proxy = new TcpProxy(picker, options, logger);
  const conns: Conn[] = [];
  const front = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s) => void conns.push(proxy.handle(s) as Conn));
  const port = await listen(front, loopback(6));
  onTestFinished(async () => {
    await proxy.drain(0);
    await closeServer(front);
  });
  const client = async (): Promise<{ socket: Socket; conn: Conn }> => {
    const socket = await connectTo(loopback(6), port);
    socket.on('error', () => undefined);
    onTestFinished(() => void socket.destroy());
    const conn = await waitFor(() => conns.shift(), { description: 'the proxied connection', pollMs: 5 });
    socket.write('ping\n');
    expect(await readLine(socket)).toBe('ping'); // relaying
    return { socket, conn };
  };
  return { proxy, upstream, lines, client };
}

/** A metrics registry reading the proxy's bug count the way the balancer reports it. */
function bugMetric(proxy: TcpProxy<ProxyUpstream>): () => Promise<string | undefined> {
  const registry = new Registry();
  const metrics = new LoadBalancerMetrics(registry);
  metrics.attach({
    snapshot: () => ({
      listener: { addresses: [], listening: true },
      healthy: true,
      upstreams: [],
      connections: { active: proxy.size(), refused: 0, failed: 0, stalled: 0, retried: 0, bufferedBytes: 0, bugs: proxy.bugs },
    }),
  });
  return async () => (await registry.metrics()).split('\n').find((l) => l.startsWith('kubeprism_connection_bugs_total '));
}

describe('a bug in a proxied connection', () => {
  it('an impossible socket event: logged with its stack, state and event, counted, that connection gone, the others relaying', async () => {
    const echo = await startTcp('echo', 2, { handler: (s) => void s.pipe(s) });
    const { proxy, upstream, lines, client } = await proxyTo(echo.endpoint);
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    onTestFinished(() => void process.off('uncaughtException', onUncaught));
    const metric = bugMetric(proxy);
    const broken = await client();
    const healthy = await client();
    expect([proxy.size(), proxy.connectionsTo(upstream), await metric()]).toEqual([2, 2, 'kubeprism_connection_bugs_total 0']);

    broken.conn.state = 'done'; // as a bug would leave it: the client's close is now impossible
    broken.socket.destroy();
    await waitFor(() => proxy.bugs === 1, { description: 'the bug to be counted', pollMs: 5 });
    await waitFor(() => proxy.size() === 1 && proxy.connectionsTo(upstream) === 1, { description: 'that connection forgotten', pollMs: 5 });
    const report = lines.find((l) => l.level === 50);
    expect(report).toMatchObject({ state: 'done', event: 'client closed', err: { code: 'KP_ERR_ILLEGAL_TRANSITION' } });
    expect((report?.err as { stack?: string }).stack).toContain('IllegalTransitionError');
    expect(await metric()).toBe('kubeprism_connection_bugs_total 1');

    healthy.socket.write('still here\n');
    expect(await readLine(healthy.socket)).toBe('still here');
    expect(uncaught).toEqual([]);
  });

  it('an impossible call from the proxy (a teardown of a connection that is done): counted, nothing thrown', async () => {
    const echo = await startTcp('echo', 2, { handler: (s) => void s.pipe(s) });
    const { proxy, upstream, client } = await proxyTo(echo.endpoint);
    const broken = await client();
    const ended = waitForEvent(broken.socket.resume(), 'end', 'the end from the proxy');
    broken.conn.state = 'done';
    expect(() => proxy.closeConnections(() => true, 'test')).not.toThrow();
    expect([proxy.bugs, proxy.size(), proxy.connectionsTo(upstream)]).toEqual([1, 0, 0]);
    await ended;
  });
});
