import { connect } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { KubeprismError, ValidationError } from '../../src/runtime/errors.js';
import { LoadBalancer } from '../../src/loadbalancer/load-balancer.js';
import { parseLoadBalancerOptions } from '../../src/loadbalancer/options.js';
import { FakeApiServer, whoAnswers } from '../harness/fake-apiserver.js';
import { connectTo, fixedPort, ipv6LoopbackAvailable, occupyPort, randomLoopback } from '../harness/ports.js';
import { readLine } from '../harness/tcp-server.js';
import { waitFor, waitForEvent, waitForSnapshot, waitForUpstream } from '../harness/wait.js';
import { addressOf, allHealthy, lbPort, startApi, startLb, startTcp } from './fixtures.js';

function thrown(fn: () => unknown): KubeprismError {
  try {
    fn();
  } catch (err) {
    if (err instanceof KubeprismError) return err;
    throw err;
  }
  throw new Error('expected a throw');
}

/** Resolves with the error code when a connection to host:port fails, or 'connected'. */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('LoadBalancer options', () => {
  it('defaults live in one place', () => {
    expect(parseLoadBalancerOptions({})).toEqual({
      listen: { host: '127.0.0.1', port: 7445, ipv6: false },
      healthCheck: { mode: 'readyz', intervalMs: 5_000, timeoutMs: 2_000, jitter: 0.2 },
      closeConnectionsOnDown: true,
      maxConnections: 8192,
      stallTimeoutMs: 30_000,
      dialTimeoutMs: 3_000,
      firstByteTimeoutMs: 1_000,
      drainTimeoutMs: 10_000,
    });
  });

  it('rejects bad options with every path and a precise message', () => {
    const lb = new LoadBalancer();
    onTestFinished(() => lb.close());
    const err = thrown(() =>
      lb.configure({
        listen: { port: 70000 },
        healthCheck: { mode: 'ping' as 'tcp', jitter: -1 },
        firstByteTimeoutMs: 0.5,
        extra: 1,
      } as never),
    );
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.code).toBe('KP_ERR_VALIDATION');
    expect((err as ValidationError).issues).toEqual([
      { path: 'listen.port', message: 'must be at most 65535' },
      { path: 'healthCheck.mode', message: 'must be one of tcp, tls, readyz' },
      { path: 'healthCheck.jitter', message: 'must be at least 0' },
      { path: 'firstByteTimeoutMs', message: 'must be a whole number' },
      { path: '', message: 'unknown field(s): extra' },
    ]);
    expect(err.message).toContain('listen.port: must be at most 65535');
  });

  it.each(['0.0.0.0', '10.0.0.1', '::', 'localhost', '192.168.1.1'])('refuses to listen on non-loopback %s', (host) => {
    const lb = new LoadBalancer();
    onTestFinished(() => lb.close());
    const err = thrown(() => lb.configure({ listen: { host, port: 0 } }));
    expect(err.code).toBe('KP_ERR_NOT_LOOPBACK');
    expect(lb.snapshot().listener).toEqual({ addresses: [], listening: false }); // nothing was bound
  });

  it('validates the upstream list', () => {
    const lb = new LoadBalancer();
    onTestFinished(() => lb.close());
    const err = thrown(() =>
      lb.setUpstreams([
        { host: '127.0.0.2', port: 6443 },
        { host: '[::1]', port: 0 },
      ]),
    );
    expect((err as ValidationError).issues).toEqual([
      { path: '1.host', message: 'must not be bracketed (write ::1, not [::1])' },
      { path: '1.port', message: 'must be at least 1' },
    ]);
  });
});

describe('LoadBalancer listener', () => {
  it('proxies to a healthy upstream and reports it', async () => {
    const a = await startApi('a', 2);
    const lb = startLb();
    lb.setUpstreams([a.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 1);
    expect(await whoAnswers('127.0.0.1', port)).toBe('a');
    const s = await waitForUpstream(
      lb,
      addressOf(a),
      (u) => u.totalConnections === 1 && u.activeConnections === 0,
      'one finished connection',
    );
    expect(s.healthy).toBe(true);
    expect(s.listener).toEqual({ addresses: [{ host: '127.0.0.1', port }], listening: true });
    expect(s.upstreams[0]).toMatchObject({ host: a.host, port: a.port, healthy: true, dialFailures: 0, tier: expect.any(Number) });
    expect(s.upstreams[0]?.bytesIn).toBeGreaterThan(0);
    expect(s.upstreams[0]?.bytesOut).toBeGreaterThan(0);
    expect(s.upstreams[0]?.latencyMs).toBeGreaterThan(0);
  });

  it('reports a taken port, retries with backoff, and listens once it is freed', async () => {
    // Bound by the blocker, then freed, then by the balancer: an address of its own (see fixedPort).
    const host = randomLoopback();
    const port = await fixedPort(host);
    const blocker = await occupyPort(host, port);
    onTestFinished(() => new Promise<void>((r) => blocker.close(() => r())));
    const lb = startLb({ listen: { host, port } });
    const failed = await waitForSnapshot(lb, (s) => s.listener.error !== undefined, 'the bind error');
    expect(failed.listener.listening).toBe(false);
    expect(failed.listener.error).toBe(`cannot listen on ${host}:${port}: EADDRINUSE`);
    await new Promise<void>((r) => blocker.close(() => r()));
    const ok = await waitForSnapshot(lb, (s) => s.listener.listening, 'the listener after the port was freed');
    expect(ok.listener).toEqual({ addresses: [{ host, port }], listening: true });
  });

  it('moves the listener without losing upstream state', async () => {
    const a = await startApi('a', 2);
    // Addresses of their own: the test expects the one left to be refused, and names the next in advance.
    const [from, to] = [randomLoopback(), randomLoopback()];
    const lb = startLb({ listen: { host: from } });
    lb.setUpstreams([a.endpoint]);
    const first = await lbPort(lb);
    const before = await waitForUpstream(lb, addressOf(a), (u) => u.score >= 2, 'score 2');
    const scoreBefore = before.upstreams[0]?.score ?? 0;
    const second = await fixedPort(to);
    lb.configure({ listen: { host: to, port: second }, healthCheck: { intervalMs: 100, timeoutMs: 500 } });
    await waitForSnapshot(lb, (s) => s.listener.addresses[0]?.host === to && s.listener.listening, 'the moved listener');
    expect(lb.snapshot().upstreams[0]?.score).toBeGreaterThanOrEqual(scoreBefore); // not reset to 0
    expect(await whoAnswers(to, second)).toBe('a');
    expect(await tryConnect(from, first)).toBe('ECONNREFUSED');
  });

  it('listens on [::1] too when asked, and proxies to an IPv6 upstream given unbracketed', async (ctx) => {
    if (!(await ipv6LoopbackAvailable())) return ctx.skip('::1 cannot be bound on this machine (IPv6 disabled)');
    const a = await FakeApiServer.start({ name: 'a', host: '::1' });
    onTestFinished(() => a.stop());
    const lb = startLb({ listen: { ipv6: true } });
    lb.setUpstreams([{ host: '::1', port: a.port }]);
    expect(lb.snapshot().upstreams[0]?.address).toBe(`[::1]:${a.port}`);
    const s = await waitForSnapshot(lb, (x) => x.listener.addresses.length === 2, 'both addresses bound');
    const port = s.listener.addresses[0]?.port as number;
    expect(s.listener.addresses).toEqual([
      { host: '127.0.0.1', port },
      { host: '::1', port },
    ]);
    await allHealthy(lb, 1);
    expect(await whoAnswers('::1', port)).toBe('a');
  });

  it('close() stops accepting at once, drains, then destroys what is left', async () => {
    const echo = await startTcp('echo', 2);
    const lb = startLb({ healthCheck: { mode: 'tcp' } });
    lb.setUpstreams([echo.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 1);
    const stays = await connectTo('127.0.0.1', port);
    onTestFinished(() => void stays.destroy());
    const leaves = await connectTo('127.0.0.1', port);
    onTestFinished(() => void leaves.destroy());
    expect(await readLine(stays)).toBe('echo');
    expect(await readLine(leaves)).toBe('echo');
    const closing = lb.close({ drainTimeoutMs: 60_000 });
    expect(await tryConnect('127.0.0.1', port)).toBe('ECONNREFUSED'); // no longer accepting
    stays.write('still here\n');
    expect(await readLine(stays)).toBe('still here'); // existing connections keep working while draining
    leaves.end();
    stays.end(); // both gone: close resolves well before the 60 s drain bound
    await closing;
    expect(lb.snapshot().connections.active).toBe(0);

    const lb2 = startLb({ healthCheck: { mode: 'tcp' } });
    lb2.setUpstreams([echo.endpoint]);
    const port2 = await lbPort(lb2);
    await allHealthy(lb2, 1);
    const stuck = await connectTo('127.0.0.1', port2);
    onTestFinished(() => void stuck.destroy());
    expect(await readLine(stuck)).toBe('echo');
    stuck.resume(); // read on, so the proxy's FIN is seen
    const closed = waitForEvent(stuck, 'end', 'the undrained connection to be closed by the balancer');
    await lb2.close({ drainTimeoutMs: 50 }); // bounded drain: destroyed after 50 ms
    await closed;
  });

  it('notifies on listener and health changes, coalesced, and not on every check', async () => {
    const a = await startApi('a', 2);
    const lb = startLb({}, {});
    const seen: boolean[] = [];
    lb.onChange((s) => seen.push(s.healthy));
    lb.setUpstreams([a.endpoint]);
    await lbPort(lb);
    await waitForUpstream(lb, addressOf(a), (u) => u.score === 5, 'the maximum score');
    const atMax = a.requestCount('/readyz');
    await waitFor(() => a.requestCount('/readyz') > atMax, { description: 'one more check', pollMs: 10 }); // the last notification is out by then
    const count = seen.length;
    expect(seen.at(-1)).toBe(true);
    const checks = a.requestCount('/readyz');
    await waitFor(() => a.requestCount('/readyz') >= checks + 4, { description: 'four more checks', pollMs: 10 });
    expect(seen.length).toBe(count); // stable upstream: checks happen, notifications do not
    // An unsubscribed listener hears nothing more, while a subscribed one hears the next change.
    let unsubscribedCalls = 0;
    const unsubscribe = lb.onChange(() => unsubscribedCalls++);
    unsubscribe();
    const b = await startApi('b', 3);
    lb.setUpstreams([a.endpoint, b.endpoint]);
    await waitFor(() => seen.length > count || undefined, { description: 'the notification for the added upstream', pollMs: 5 });
    expect(unsubscribedCalls).toBe(0);
  });
});
