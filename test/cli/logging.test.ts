import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { resolveLogFormat, rootLogger } from '../../src/cli/logging.js';
import { ListenError } from '../../src/loadbalancer/errors.js';
import { componentLogger, isOperationalError, KubeprismError, OPERATIONAL_ERROR_CODES, type ErrorCode } from '../../src/runtime/index.js';
import { waitFor } from '../harness/wait.js';

// What is expected: `--log-format auto` is pretty on a terminal and JSON elsewhere; json and pretty are
// what they say whatever the output is; pretty printing runs in-process (a stream, no worker thread);
// the agent's operational error codes are logged without stacks.

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.setEncoding('utf8').on('data', (s: string) => (text += s));
  return { stream, text: () => text };
}

describe('--log-format', () => {
  it.each([
    ['auto', true, 'pretty'],
    ['auto', false, 'json'],
    ['json', true, 'json'],
    ['json', false, 'json'],
    ['pretty', true, 'pretty'],
    ['pretty', false, 'pretty'],
  ] as const)('%s on a terminal=%s is %s', (format, terminal, expected) => {
    expect(resolveLogFormat(format, terminal)).toBe(expected);
  });

  it('json: one JSON object a line, ISO time, one component', async () => {
    const out = sink();
    const log = componentLogger(
      componentLogger(await rootLogger({ level: 'info', format: 'json', destination: out.stream, isTerminal: true }), 'a'),
      'b',
    );
    log.info({ n: 1 }, 'hello');
    const line = await waitFor(() => out.text().split('\n')[0], { description: 'a log line' });
    expect(JSON.parse(line)).toEqual({
      level: 30,
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/),
      component: 'b',
      n: 1,
      msg: 'hello',
    });
  });

  it('pretty: a human line with the component first, in-process', async () => {
    const out = sink();
    const log = componentLogger(await rootLogger({ level: 'info', format: 'pretty', destination: out.stream, isTerminal: false }), 'api');
    log.warn({ address: '127.0.0.1:7446' }, 'debug API listening');
    const line = await waitFor(() => out.text().split('\n')[0], { description: 'a pretty line' });
    expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: api: debug API listening \{"address":"127\.0\.0\.1:7446"\}$/);
  });

  it('honours the level', async () => {
    const out = sink();
    const log = await rootLogger({ level: 'warn', format: 'json', destination: out.stream });
    log.info('dropped');
    log.warn('kept');
    const text = await waitFor(() => out.text().includes('kept') && out.text(), { description: 'the warn line' });
    expect(text).not.toContain('dropped');
  });
});

describe('operational error codes of the agent', () => {
  it('logs a taken port as a message and a code, without a stack', async () => {
    const out = sink();
    const log = await rootLogger({ level: 'info', format: 'json', destination: out.stream });
    const taken = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:7445'), { code: 'EADDRINUSE' });
    log.error({ err: new ListenError('127.0.0.1:7445', 'cannot listen on 127.0.0.1:7445', { cause: taken }) }, 'listen failed');
    const line = await waitFor(() => out.text().split('\n')[0], { description: 'a log line' });
    const err = (JSON.parse(line) as { err: Record<string, unknown> }).err;
    expect(err).toMatchObject({ type: 'ListenError', code: 'KP_ERR_LISTEN', address: '127.0.0.1:7445' });
    expect(err.message).toContain('EADDRINUSE');
    expect(err).not.toHaveProperty('stack');
  });

  it('lists the expected conditions, not the bug signals', () => {
    for (const code of <ErrorCode[]>[
      'KP_ERR_LISTEN',
      'KP_ERR_INVALID_CONFIG',
      'KP_ERR_DISCOVERY_UNREACHABLE',
      'KP_ERR_MEMBERS_FILE_UNREADABLE',
      'KP_ERR_NOT_FOUND',
    ])
      expect(isOperationalError(new KubeprismError(code, 'x'), OPERATIONAL_ERROR_CODES), code).toBe(true);
    for (const code of <ErrorCode[]>[
      'KP_ERR_INTERNAL',
      'KP_ERR_ACCESS_DENIED',
      'KP_ERR_REGISTRATION',
      'KP_ERR_OWNER_CONFLICT',
      'KP_ERR_VALIDATION',
      'KP_ERR_ILLEGAL_TRANSITION',
    ])
      expect(isOperationalError(new KubeprismError(code, 'x'), OPERATIONAL_ERROR_CODES), code).toBe(false);
  });
});
