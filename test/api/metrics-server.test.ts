import { request } from 'node:http';
import { connect } from 'node:net';
import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { MetricsServer, parseMetricsAddress, type MetricsAddress } from '../../src/api/metrics-server.js';
import { hasCode } from '../../src/runtime/index.js';
import { closeServer, freePort, loopback, occupyPort } from '../harness/ports.js';
import { waitFor } from '../harness/wait.js';

// What is expected: a read-only listener serving exactly GET /metrics (the registry's text) and GET
// /healthz; 404 for any other path, 405 for other methods; its address may change while it runs (bound
// before the old one is let go; a failed change keeps the old one), and a taken address is retried.
// Tests bind 127.0.0.x only; the code accepts any IP.

const started: MetricsServer[] = [];
afterEach(async () => {
  for (const server of started.splice(0)) await server.close();
});

function registry(): Registry {
  const reg = new Registry();
  new Counter({ name: 'kubeprism_test_total', help: 'a test counter', registers: [reg] }).inc(3);
  return reg;
}

async function start(address: string, options: { ready?: () => boolean; reg?: Registry } = {}): Promise<MetricsServer> {
  const server = new MetricsServer({
    registry: options.reg ?? registry(),
    ...(options.ready ? { ready: options.ready } : {}),
    retryBackoff: { initialMs: 20, maxMs: 50, multiplier: 2, jitter: 0 },
  });
  started.push(server);
  await server.setAddress(address);
  return server;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(address: MetricsAddress, method: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: address.host, port: address.port, method, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves with the connect error code, or 'connected'. */
function dial(address: MetricsAddress): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: address.host, port: address.port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('parseMetricsAddress', () => {
  it.each([
    ['127.0.0.1:9100', { host: '127.0.0.1', port: 9100 }],
    ['localhost:9100', { host: '127.0.0.1', port: 9100 }],
    ['0.0.0.0:9100', { host: '0.0.0.0', port: 9100 }],
    ['10.1.2.3:0', { host: '10.1.2.3', port: 0 }],
    ['[::]:9100', { host: '::', port: 9100 }],
    ['[fd00::5]:9100', { host: 'fd00::5', port: 9100 }],
  ])('%s', (text, expected) => {
    expect(parseMetricsAddress(text)).toEqual(expected);
  });

  it.each([
    ['unix:/run/kubeprism/metrics.sock', /Prometheus scrapes TCP/],
    ['node-1.example.com:9100', /"node-1\.example\.com" is not an IP address/],
    ['9100', /want host:port or \[ipv6\]:port/],
    ['127.0.0.1:99999', /want host:port/],
    ['::1:9100', /want host:port/],
  ])('refuses %s with KP_ERR_METRICS_ADDRESS', (text, message) => {
    let caught: unknown;
    try {
      parseMetricsAddress(text);
    } catch (err) {
      caught = err;
    }
    expect(hasCode(caught, 'KP_ERR_METRICS_ADDRESS')).toBe(true);
    expect((caught as Error).message).toMatch(message);
    expect((caught as Error).message).toContain(text);
  });
});

describe('MetricsServer', () => {
  it('serves the registry on GET /metrics and the readiness on GET /healthz', async () => {
    const reg = registry();
    let ready = false;
    const server = await start(`${loopback(71)}:0`, { reg, ready: () => ready });
    const address = server.address!;
    expect(address.host).toBe(loopback(71));
    expect(address.port).toBeGreaterThan(0);

    const metrics = await http(address, 'GET', '/metrics?name[]=x');
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toBe(reg.contentType);
    expect(metrics.body).toBe(await reg.metrics());
    expect(metrics.body).toContain('kubeprism_test_total 3');

    expect(await http(address, 'GET', '/healthz')).toMatchObject({ status: 503, body: '{"status":"unavailable"}\n' });
    ready = true;
    expect(await http(address, 'GET', '/healthz')).toMatchObject({ status: 200, body: '{"status":"ok"}\n' });
    expect(await http(address, 'HEAD', '/metrics')).toMatchObject({ status: 200, body: '' });
  });

  it('answers 404 for every other path and 405 for other methods', async () => {
    const server = await start(`${loopback(72)}:0`);
    const address = server.address!;
    for (const path of ['/', '/v1/resources', '/v1/config', '/metrics/', '/metricsx', '/healthz/x', '/../metrics']) {
      const answer = await http(address, 'GET', path);
      expect(answer.status, path).toBe(404);
      expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'KP_ERR_NOT_FOUND' } });
    }
    expect((await http(address, 'PUT', '/v1/config')).status).toBe(404);
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const answer = await http(address, method, '/metrics');
      expect(answer.status, method).toBe(405);
      expect(answer.headers.allow).toBe('GET, HEAD');
      expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'KP_ERR_METHOD_NOT_ALLOWED' } });
    }
  });

  it('answers garbage with 400 and keeps serving', async () => {
    const server = await start(`${loopback(73)}:0`);
    const address = server.address!;
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: address.host, port: address.port }, () => socket.write('\x16\x03\x01 not http at all\r\n\r\n'));
      let text = '';
      socket.setEncoding('utf8').on('data', (s: string) => (text += s));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    expect((await http(address, 'GET', '/healthz')).status).toBe(200);
  });

  it('moves to a new address: the new one serves, the old one is released', async () => {
    const server = await start(`${loopback(74)}:0`);
    const first = server.address!;
    await server.setAddress(`${loopback(75)}:0`);
    const second = server.address!;
    expect(second.host).toBe(loopback(75));
    expect((await http(second, 'GET', '/metrics')).status).toBe(200);
    expect(await dial(first)).toBe('ECONNREFUSED');
    // The same setting again changes nothing (not even the port picked for 0).
    await server.setAddress(`${loopback(75)}:0`);
    expect(server.address).toEqual(second);
    // Turned off: nothing listens.
    await server.setAddress(undefined);
    expect(server.address).toBeUndefined();
    expect(await dial(second)).toBe('ECONNREFUSED');
  });

  it('keeps serving on the old address when the new one cannot be bound', async () => {
    const server = await start(`${loopback(76)}:0`);
    const first = server.address!;
    const takenPort = await freePort(loopback(77));
    const holder = await occupyPort(loopback(77), takenPort);
    try {
      const failure = await server.setAddress(`${loopback(77)}:${takenPort}`).catch((err: unknown) => err);
      expect(hasCode(failure, 'KP_ERR_METRICS_LISTEN')).toBe(true);
      expect((failure as Error).message).toBe(`cannot serve metrics on ${loopback(77)}:${takenPort}: EADDRINUSE`);
      expect(server.lastError).toBe(failure);
      expect(server.address).toEqual(first);
      expect((await http(first, 'GET', '/metrics')).status).toBe(200);

      // Same port on another address, taken there: the old listener is let go and taken back.
      const samePort = await start(`${loopback(78)}:${takenPort}`);
      const again = await samePort.setAddress(`${loopback(77)}:${takenPort}`).catch((err: unknown) => err);
      expect(hasCode(again, 'KP_ERR_METRICS_LISTEN')).toBe(true);
      expect(samePort.address).toEqual({ host: loopback(78), port: takenPort });
      expect((await http(samePort.address!, 'GET', '/healthz')).status).toBe(200);
    } finally {
      await closeServer(holder);
    }
  });

  it('serve() retries a taken address until it is free', async () => {
    const server = await start(`${loopback(79)}:0`);
    const port = await freePort(loopback(80));
    const holder = await occupyPort(loopback(80), port);
    let released = false;
    try {
      await server.serve(`${loopback(80)}:${port}`);
      expect(server.lastError?.code).toBe('KP_ERR_METRICS_LISTEN');
      expect(server.address?.host).toBe(loopback(79)); // still on the old one meanwhile
      await closeServer(holder);
      released = true;
      await waitFor(() => server.address?.host === loopback(80), { description: 'the retried address bound', pollMs: 10 });
      expect(server.address).toEqual({ host: loopback(80), port });
      expect(server.lastError).toBeUndefined();
      expect((await http(server.address!, 'GET', '/metrics')).status).toBe(200);
    } finally {
      if (!released) await closeServer(holder);
    }
  });

  it('close() refuses new connections', async () => {
    const server = await start(`${loopback(83)}:0`);
    const address = server.address!;
    await server.close();
    expect(await dial(address)).toBe('ECONNREFUSED');
  });
});
