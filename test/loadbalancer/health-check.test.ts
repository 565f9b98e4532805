import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { HealthCheckError } from '../../src/loadbalancer/errors.js';
import { checkReadyz, checkTcp, checkTls, runHealthCheck } from '../../src/loadbalancer/health-check.js';
import { FakeApiServer } from '../harness/fake-apiserver.js';
import { loopback, refusingPort } from '../harness/ports.js';
import { TcpTestServer } from '../harness/tcp-server.js';
import { waitUntil } from '../harness/wait.js';

// Each check: resolves when healthy, rejects with KP_ERR_HEALTH_CHECK (or the abort reason) otherwise,
// and leaves no socket behind either way.
const servers: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function api(name: string, options: Partial<Parameters<typeof FakeApiServer.start>[0]> = {}): Promise<FakeApiServer> {
  const s = await FakeApiServer.start({ name, host: loopback(2), ...options });
  servers.push(s);
  return s;
}

const signal = () => AbortSignal.timeout(5_000);

describe('health checks', () => {
  it('tcp: healthy on connect, unhealthy when refused', async () => {
    const s = await api('a');
    await expect(checkTcp(s.endpoint, signal())).resolves.toBeUndefined();
    const closed = await refusingPort([loopback(2)]); // nothing listens there, and the test holds it
    onTestFinished(() => closed.release());
    const port = closed.port;
    const err = await checkTcp({ host: loopback(2), port }, signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HealthCheckError);
    expect(err).toMatchObject({ code: 'KP_ERR_HEALTH_CHECK', message: `connect ${loopback(2)}:${port}: ECONNREFUSED` });
    await waitUntil(() => s.openConnections === 0, 'the tcp check socket to be closed');
  });

  it('tls: healthy after a handshake, unhealthy against a server that is not TLS', async () => {
    const s = await api('a');
    await expect(checkTls(s.endpoint, signal())).resolves.toBeUndefined();
    expect(s.lastServerName).toBe(false); // no SNI for an IP literal
    await expect(checkTls({ ...s.endpoint, tlsServerName: 'kubernetes.default' }, signal())).resolves.toBeUndefined();
    expect(s.lastServerName).toBe('kubernetes.default');
    const plain = await TcpTestServer.start({ name: 'plain', host: loopback(2), handler: (sock) => sock.resume().end('not tls\n') });
    servers.push(plain);
    await expect(checkTls(plain.endpoint, signal())).rejects.toMatchObject({ code: 'KP_ERR_HEALTH_CHECK' });
    await waitUntil(() => s.openConnections === 0 && plain.openConnections === 0, 'the tls check sockets to be closed');
  });

  it.each([
    [200, true],
    [204, true],
    [401, true], // alive, will not tell an anonymous client
    [403, true],
    [404, false],
    [500, false],
    [503, false],
  ])('readyz: status %s → healthy %s', async (status, healthy) => {
    const s = await api('a', { readyzStatus: status });
    const result = checkReadyz(s.endpoint, signal());
    if (healthy) await expect(result).resolves.toBeUndefined();
    else await expect(result).rejects.toMatchObject({ code: 'KP_ERR_HEALTH_CHECK', message: `/readyz answered ${status}` });
    expect(s.requestCount('/readyz')).toBe(1);
    await waitUntil(() => s.openConnections === 0, 'the readyz check socket to be closed');
  });

  it('readyz: sends the tlsServerName as SNI', async () => {
    const s = await api('a');
    await runHealthCheck('readyz', { ...s.endpoint, tlsServerName: 'api.example.test' }, signal());
    expect(s.lastServerName).toBe('api.example.test');
  });

  it.each(['tcp', 'tls', 'readyz'] as const)('%s: an abort ends the check at once and closes its socket', async (mode) => {
    // tcp connects even to a black hole (the kernel accepts), so abort before it could: an already-aborted signal.
    const s = await api('hole', { blackHole: true });
    const controller = new AbortController();
    const reason = new Error('deadline');
    if (mode === 'tcp') controller.abort(reason);
    const check = runHealthCheck(mode, s.endpoint, controller.signal);
    if (mode !== 'tcp') {
      await waitUntil(() => s.openConnections === 1, 'the check to connect to the black hole');
      controller.abort(reason);
    }
    await expect(check).rejects.toBe(reason);
    await waitUntil(() => s.openConnections === 0, 'the aborted check socket to be closed');
  });

  it('checks IPv6 upstreams given unbracketed', async (ctx) => {
    const s = await FakeApiServer.start({ name: 'v6', host: '::1' }).catch(() => undefined);
    if (!s) return ctx.skip('::1 is not available on this machine');
    servers.push(s);
    await expect(checkReadyz({ host: '::1', port: s.port }, signal())).resolves.toBeUndefined();
  });
});
