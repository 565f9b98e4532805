import { readFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import os from 'node:os';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  AccessDeniedError,
  componentLogger,
  createLogger,
  errorSerializer,
  isOperationalError,
  KubeprismError,
  NotFoundError,
} from '../../src/runtime/index.js';
import { closeServer, freePort, listen, loopback } from '../harness/ports.js';

// What is expected: one `component` key per line (a nested component replaces its parent's), ISO-8601
// times, and stack traces only for bugs: operational conditions (Node system codes, listed KubeprismError
// codes, wrappers without a code of their own around one) get a message and a code.

/** A pino destination that keeps every line written. */
function capture(): { write(line: string): void; lines: string[]; parsed(): Array<Record<string, unknown>> } {
  const lines: string[] = [];
  return { write: (line) => lines.push(line), lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const occurrences = (text: string, key: string): number => text.split(`"${key}":`).length - 1;

/** Rejects with the error a real failing call produces. */
async function failureOf(run: () => Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await run();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the call to fail');
}

describe('componentLogger', () => {
  it('writes one component key per line; a nested component replaces its parent’s', () => {
    const out = capture();
    const root = createLogger({}, out);
    const controller = componentLogger(root, 'KubePrismController');
    const balancer = componentLogger(controller, 'loadbalancer');
    const listener = componentLogger(balancer.child({ upstream: 'a:1' }), 'listener');
    root.info('root');
    controller.info('controller');
    balancer.info('balancer');
    listener.info('listener');
    for (const line of out.lines) expect(occurrences(line, 'component'), line).toBeLessThanOrEqual(1);
    expect(out.parsed().map((l) => [l.msg, l.component])).toEqual([
      ['root', undefined],
      ['controller', 'KubePrismController'],
      ['balancer', 'loadbalancer'],
      ['listener', 'listener'],
    ]);
    expect(out.parsed()[3]).toMatchObject({ upstream: 'a:1' });
  });

  it('an explicit component in a log call wins over the logger’s', () => {
    const out = capture();
    componentLogger(createLogger({}, out), 'api').info({ component: 'override' }, 'x');
    expect(occurrences(out.lines[0]!, 'component')).toBe(1);
    expect(out.parsed()[0]!.component).toBe('override');
  });

  it('names the component on a logger it did not create (an embedder’s own pino) too', () => {
    const out = capture();
    componentLogger(pino({ base: undefined }, out), 'api').info('x');
    expect(out.parsed()[0]!.component).toBe('api');
  });
});

describe('createLogger', () => {
  it('writes ISO-8601 UTC times', () => {
    const out = capture();
    createLogger({}, out).info('x');
    expect(out.lines[0]).toMatch(/"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"/);
  });

  it('logs an operational error without its stack, a bug with it', async () => {
    const out = capture();
    const log = createLogger({ operationalCodes: new Set(['KP_ERR_LISTEN']) }, out);
    const missing = await failureOf(() => readFile(`${os.tmpdir()}/kubeprism-no-such-file-${process.pid}`));
    log.error({ err: missing }, 'read failed');
    log.error({ err: new KubeprismError('KP_ERR_LISTEN', 'port taken') }, 'listen failed');
    log.error({ err: new TypeError('cannot read properties of undefined') }, 'bug');
    const [enoent, listen, bug] = out.parsed().map((l) => l.err as Record<string, unknown>);
    expect(enoent).toMatchObject({ code: 'ENOENT', type: 'Error', message: expect.stringContaining('no such file') });
    expect(enoent).not.toHaveProperty('stack');
    expect(listen).toEqual({ type: 'KubeprismError', code: 'KP_ERR_LISTEN', message: 'port taken', name: 'KubeprismError' });
    expect(bug!.stack).toEqual(expect.stringContaining('TypeError: cannot read properties of undefined\n    at '));
  });
});

describe('isOperationalError and errorSerializer', () => {
  it('treats real file errors as operational: missing, a directory, no permission', async () => {
    const enoent = await failureOf(() => readFile('/nonexistent/kubeprism/config.yaml'));
    const eisdir = await failureOf(() => readFile(os.tmpdir()));
    expect([enoent.code, eisdir.code]).toEqual(['ENOENT', 'EISDIR']);
    for (const err of [enoent, eisdir]) expect(isOperationalError(err)).toBe(true);
    const eacces = Object.assign(new Error("EACCES: permission denied, open '/etc/shadow'"), { code: 'EACCES' });
    expect(isOperationalError(eacces)).toBe(true);
  });

  it('treats real socket errors as operational: port taken, connection refused', async () => {
    const host = loopback(61);
    const holder = createServer();
    const port = await listen(holder, host);
    try {
      const taken = await failureOf(() => listen(createServer(), host, port));
      expect(taken.code).toBe('EADDRINUSE');
      expect(isOperationalError(taken)).toBe(true);
    } finally {
      await closeServer(holder);
    }
    const closed = await freePort(host);
    const refused = await failureOf(
      () =>
        new Promise((resolve, reject) => {
          const socket = connect({ host, port: closed });
          socket.once('connect', () => resolve(socket.destroy()));
          socket.once('error', reject);
        }),
    );
    expect(refused.code).toBe('ECONNREFUSED');
    expect(isOperationalError(refused)).toBe(true);
  });

  it.each([
    'ECONNRESET',
    'EPIPE',
    'ETIMEDOUT',
    'EHOSTUNREACH',
    'ENOTFOUND',
    'ABORT_ERR',
    'ERR_SSL_WRONG_VERSION_NUMBER',
    'HPE_INVALID_METHOD',
  ])('%s is operational', (code) => {
    expect(isOperationalError(Object.assign(new Error(code), { code }))).toBe(true);
  });

  it('lets the error’s own code decide, and judges an error without one by its cause', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
    // fetch() rejects with a code-less TypeError around the socket error.
    expect(isOperationalError(new TypeError('fetch failed', { cause: refused }))).toBe(true);
    // A KubeprismError's code is what it says about itself, whatever it wraps.
    expect(isOperationalError(new KubeprismError('KP_ERR_INTERNAL', 'broken', { cause: refused }))).toBe(false);
    expect(isOperationalError(new KubeprismError('KP_ERR_LISTEN', 'taken'))).toBe(true); // marked so in the code table
    expect(isOperationalError(new KubeprismError('KP_ERR_LISTEN', 'taken'), new Set())).toBe(false); // a caller's own set decides
    // The table marks expected conditions; bug signals are not marked.
    expect(isOperationalError(new NotFoundError('no such resource'))).toBe(true);
    expect(isOperationalError(new AccessDeniedError('controller x did not declare y'))).toBe(false);
    expect(isOperationalError(new Error('plain'))).toBe(false);
    expect(isOperationalError('a string')).toBe(false);
    expect(isOperationalError(Object.assign(new Error('x'), { code: 'ERR_INVALID_ARG_TYPE' }))).toBe(false);
  });

  it('keeps the messages of the causes, and drops aggregated stacks too', () => {
    // As written to the log: the serializer's objects inherit pino's error prototype.
    const serialize = (err: unknown): unknown => JSON.parse(JSON.stringify(errorSerializer()(err)));
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
    const wrapped = serialize(new TypeError('fetch failed', { cause: refused })) as Record<string, unknown>;
    expect(wrapped.message).toBe('fetch failed: connect ECONNREFUSED 127.0.0.1:6443');
    expect(wrapped).not.toHaveProperty('stack');
    // Node's happy-eyeballs connect rejects with an AggregateError carrying the code.
    const aggregate = Object.assign(new AggregateError([refused, refused], 'connect failed'), { code: 'ECONNREFUSED' });
    const out = serialize(aggregate) as { stack?: string; aggregateErrors: Array<Record<string, unknown>> };
    expect(out.stack).toBeUndefined();
    expect(out.aggregateErrors).toHaveLength(2);
    for (const inner of out.aggregateErrors) expect(inner).not.toHaveProperty('stack');
    // Anything that is not an error passes through unchanged.
    expect(serialize('text')).toBe('text');
  });
});
