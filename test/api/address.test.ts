import { lstat, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { ApiClient, ApiServer, assertLocalAddress, parseApiAddress } from '../../src/api/index.js';
import { hasCode } from '../../src/runtime/index.js';

describe('API addresses', () => {
  it('parses host:port, [v6]:port and unix:/path; localhost means 127.0.0.1', () => {
    expect(parseApiAddress('127.0.0.1:7446')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 7446 });
    expect(parseApiAddress('localhost:0')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 0 });
    expect(parseApiAddress('[::1]:7446')).toEqual({ kind: 'tcp', host: '::1', port: 7446 });
    expect(parseApiAddress('unix:/run/kubeprism.sock')).toEqual({ kind: 'unix', path: '/run/kubeprism.sock' });
    for (const bad of ['', '7446', '127.0.0.1', '127.0.0.1:99999', '::1:7446', 'unix:', 'host:port']) {
      expect(() => parseApiAddress(bad), bad).toThrow(expect.objectContaining({ code: 'KP_ERR_API_ADDRESS' }));
    }
  });

  it('accepts loopback and unix sockets only', () => {
    for (const ok of ['127.0.0.1:1', '127.1.2.3:1', '[::1]:1', '[0:0:0:0:0:0:0:1]:1', 'unix:/x']) {
      expect(() => assertLocalAddress(parseApiAddress(ok)), ok).not.toThrow();
    }
    for (const bad of ['0.0.0.0:1', '10.0.0.1:1', '[::]:1', '[::ffff:127.0.0.1]:1', 'example.com:1', '[fe80::1]:1']) {
      expect(() => assertLocalAddress(parseApiAddress(bad)), bad).toThrow(expect.objectContaining({ code: 'KP_ERR_API_NOT_LOOPBACK' }));
    }
  });
});

/** A socket file left behind by a process killed without cleanup (a clean close would unlink it). */
async function leaveStaleSocket(socket: string): Promise<void> {
  const child = spawn(
    process.execPath,
    ['-e', `require('node:net').createServer().listen(${JSON.stringify(socket)}, () => console.log('up'))`],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`listener exited early (${code})`)));
    });
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

describe('API server binding', () => {
  let dir: string;
  let agent: Agent | undefined;
  let api: ApiServer | undefined;

  afterEach(async () => {
    await api?.close();
    await agent?.stop();
    api = undefined;
    agent = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function backend(): Promise<Agent> {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-bind-'));
    agent = await Agent.create({ outputDir: path.join(dir, 'out') });
    await agent.start();
    return agent;
  }

  it('refuses a non-loopback address before binding anything', async () => {
    const err = await ApiServer.listen({ backend: await backend(), address: '0.0.0.0:0' }).catch((e: unknown) => e);
    expect(hasCode(err, 'KP_ERR_API_NOT_LOOPBACK')).toBe(true);
  });

  it('serves on a unix socket created with mode 0600, replacing a stale socket but never a regular file', async () => {
    const b = await backend();
    const socket = path.join(dir, 'api.sock');
    await leaveStaleSocket(socket);
    expect((await lstat(socket)).isSocket()).toBe(true);
    api = await ApiServer.listen({ backend: b, address: `unix:${socket}` });
    expect((await lstat(socket)).mode & 0o777).toBe(0o600);
    const client = new ApiClient(`unix:${socket}`);
    expect((await client.list('ns')).length).toBeGreaterThan(0);
    await api.close();
    api = undefined;

    const file = path.join(dir, 'not-a-socket');
    await writeFile(file, 'precious');
    const err = await ApiServer.listen({ backend: b, address: `unix:${file}` }).catch((e: unknown) => e);
    expect(hasCode(err, 'KP_ERR_API_ADDRESS')).toBe(true);
  });

  it('refuses a unix socket another server is serving on', async () => {
    const b = await backend();
    const socket = path.join(dir, 'busy.sock');
    api = await ApiServer.listen({ backend: b, address: `unix:${socket}` });
    const err = await ApiServer.listen({ backend: b, address: `unix:${socket}` }).catch((e: unknown) => e);
    expect(hasCode(err, 'KP_ERR_API_ADDRESS')).toBe(true);
  });

  it('closes promptly although clients hold connections open (idle keep-alive, or never sent a request)', async () => {
    const b = await backend();
    api = await ApiServer.listen({ backend: b, address: '127.0.0.1:0' });
    const { host, port } = api.address as { host: string; port: number };
    const silent = connect({ host, port });
    await new Promise<void>((resolve) => silent.once('connect', () => resolve()));
    const keepAlive = await fetch(`http://${host}:${port}/healthz`);
    await keepAlive.text();
    const silentClosed = new Promise<void>((resolve) => silent.once('close', () => resolve()));
    silent.on('error', () => undefined);
    // Well inside the 2 s grace given to requests still running: nothing here is running.
    const outcome = await Promise.race([
      api.close().then(() => 'closed'),
      new Promise((resolve) => setTimeout(() => resolve('still open'), 1_500).unref()),
    ]);
    expect(outcome).toBe('closed');
    await silentClosed;
    api = undefined;
  });

  it('says in one line that the agent cannot be reached', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-bind-'));
    const err = await new ApiClient(`unix:${path.join(dir, 'nobody.sock')}`).list('members').catch((e: unknown) => e);
    expect(hasCode(err, 'KP_ERR_UNREACHABLE')).toBe(true);
    expect((err as Error).message).not.toContain('\n');
  });
});
