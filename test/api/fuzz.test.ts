import { request } from 'node:http';
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestApi, type TestApi } from './helpers.js';

// Whatever a local client sends, the API answers quickly with a clear 4xx (or a 2xx), never a 5xx, never
// a hang, and the agent keeps serving. Each property runs against one in-process agent.
let t: TestApi;
beforeAll(async () => {
  t = await startTestApi({ maxBodyBytes: 64 * 1024 });
});
afterAll(async () => t?.stop());

const RUNS = Number(process.env.KP_FUZZ_RUNS ?? 120);

/** Every 4xx carries `{"error": {code, message}}` (or, for a rejected config, `{"errors": [...]}`). */
function expectClearAnswer(status: number, text: string, what: string): void {
  expect(status, `${what} → ${status} ${text.slice(0, 300)}`).toBeLessThan(500);
  if (status < 400) return;
  const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown }; errors?: unknown };
  if (body.errors !== undefined) {
    expect(Array.isArray(body.errors), what).toBe(true);
    return;
  }
  expect(typeof body.error?.code, what).toBe('string');
  expect(body.error?.code, what).toMatch(/^KP_ERR_[A-Z_]+$/);
  expect(typeof body.error?.message, what).toBe('string');
}

function encodeSegment(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return encodeURIComponent(text.replace(/[\uD800-\uDFFF]/g, '?')); // lone surrogates cannot be encoded
  }
}

const typeNames = fc.oneof(
  fc.constantFrom('members', 'Member', 'm', 'mc', 'kps', 'KubePrismStatuses.kubernetes.talos.dev', 'rd', 'ns', 'kpc', 'mcs'),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.stringMatching(/^[A-Za-z.]{1,300}$/),
);
const ids = fc.oneof(
  fc.constantFrom('v1alpha1', 'cp-1', 'k8s-loadbalancer', '..', '.', '%', 'a/b'),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 250, maxLength: 300 }),
);
const memberLike = fc.record(
  {
    nodeId: fc.oneof(fc.string(), fc.integer()),
    hostname: fc.oneof(fc.string(), fc.constant('host')),
    machineType: fc.oneof(fc.constantFrom('controlplane', 'worker', 'init'), fc.string(), fc.constant(null)),
    addresses: fc.oneof(fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string())), fc.string()),
    controlPlane: fc.oneof(fc.constant({}), fc.record({ apiServerPort: fc.oneof(fc.integer(), fc.string()) }), fc.anything()),
  },
  { requiredKeys: [] },
);
const bodies = fc.oneof(
  fc.json(),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.record({ spec: memberLike }).map((b) => JSON.stringify(b)),
  fc.record({ metadata: fc.anything(), spec: fc.anything() }).map((b) => JSON.stringify(b) ?? 'null'),
  fc.anything().map((v) => JSON.stringify(v) ?? 'undefined'),
  fc.constantFrom('a: &a [*a]', 'x: !!binary ???', '{"spec": 1e999}', '---\n---\n', 'spec: [', '\u0000\u0001', 'a: 1\na: 2'),
  fc.constant('x'.repeat(70 * 1024)),
);
const methods = fc.constantFrom('GET', 'PUT', 'DELETE', 'POST', 'PATCH');
const contentTypes = fc.constantFrom('application/json', 'application/yaml', 'text/plain', 'application/x-ndjson');

describe('debug API fuzzing', () => {
  it('answers random methods, types, ids and bodies on resource routes with 2xx or a clear 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(methods, typeNames, fc.option(ids), bodies, contentTypes, async (method, type, id, body, contentType) => {
        const route = `/v1/resources/${encodeSegment(type)}${id === null ? '' : `/${encodeSegment(id)}`}`;
        const withBody = method !== 'GET' && method !== 'DELETE';
        const res = await call(t.base, method, route, withBody ? body : undefined, contentType);
        expectClearAnswer(res.status, res.text, `${method} ${route}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('answers random machine configs with 200 or 400 {errors: [...]}', async () => {
    await fc.assert(
      fc.asyncProperty(bodies, async (body) => {
        const res = await call(t.base, 'PUT', '/v1/config', body, 'application/yaml');
        expectClearAnswer(res.status, res.text, 'PUT /v1/config');
        if (res.status === 400) expect((res.json() as { errors?: unknown[] }).errors?.length ?? 1).toBeGreaterThan(0);
      }),
      { numRuns: 60 },
    );
  });

  it('answers raw request paths and query strings, however odd, without a 5xx', async () => {
    const rawPath = fc.stringMatching(/^\/[!-~]{0,80}$/);
    await fc.assert(
      fc.asyncProperty(rawPath, methods, async (path, method) => {
        const { status, text } = await rawRequest(method, path);
        expectClearAnswer(status, text, `${method} ${path}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('survives garbage on the wire and keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 512 }), async (bytes) => {
        await sendGarbage(Buffer.from(bytes));
      }),
      { numRuns: 40 },
    );
    expect((await call(t.base, 'GET', '/healthz')).status).toBe(200);
  });
});

function rawRequest(method: string, path: string): Promise<{ status: number; text: string }> {
  const url = new URL(t.base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, timeout: 5_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to ${method} ${path} within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Sends bytes then half-closes; resolves when the server has closed the connection (it must, promptly). */
function sendGarbage(bytes: Buffer): Promise<void> {
  const url = new URL(t.base);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`server kept a garbage connection open: ${bytes.toString('hex').slice(0, 80)}`));
    }, 5_000);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.end(bytes);
  });
}
