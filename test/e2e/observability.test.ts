import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeServer, loopback, occupyPort } from '../harness/ports.js';
import { httpRequest, seriesOf, splitAddress, writeAgentConfig } from './ops-helpers.js';
import { assertBuilt, kubeprism, Spawned } from './process.js';

// Watching kubeprism from the cluster, over the built CLI: `kubeprism version`, the build_info metric,
// the read-only --metrics-address listener (the same metrics as the debug API, nothing else), and logs
// that carry one component each, ISO times, and no stack traces for expected conditions.

const PKG_VERSION = (JSON.parse(await readFile(path.resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string })
  .version;

describe('kubeprism version', () => {
  beforeAll(() => assertBuilt());

  it('-o json prints version, commit, node and platform', async () => {
    const result = await kubeprism(['version', '-o', 'json']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const info = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(Object.keys(info)).toEqual(['version', 'commit', 'node', 'platform']);
    expect(info).toEqual({
      version: PKG_VERSION,
      // The build stamps the checkout's commit; a build outside a git checkout says null.
      commit: expect.toSatisfy((c: unknown) => c === null || (typeof c === 'string' && /^[0-9a-f]{40}$/.test(c))),
      node: process.version,
      platform: `${process.platform}/${process.arch}`,
    });
  });

  it('prints the same as text, and -V still prints the version alone', async () => {
    const json = JSON.parse((await kubeprism(['version', '-o', 'json'])).stdout) as { commit: string | null };
    const text = await kubeprism(['version']);
    expect(text.stdout).toBe(
      `version:  ${PKG_VERSION}\ncommit:   ${json.commit ?? 'unknown'}\nnode:     ${process.version}\nplatform: ${process.platform}/${process.arch}\n`,
    );
    expect((await kubeprism(['-V'])).stdout).toBe(`${PKG_VERSION}\n`);
    expect((await kubeprism(['version', '-o', 'yaml'])).code).not.toBe(0);
  });
});

describe('kubeprism run --metrics-address', () => {
  let dir: string;
  let agent: Spawned;
  let holder: Server;
  let socketPath: string;
  let metrics: { host: string; port: number };

  beforeAll(async () => {
    assertBuilt();
    dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-observe-'));
    const { configPath, kubePrismPort } = await writeAgentConfig(dir);
    // Expected conditions the agent must log without stacks: its port taken, its members file missing.
    holder = await occupyPort('127.0.0.1', kubePrismPort);
    socketPath = path.join(dir, 'api.sock');
    agent = new Spawned([
      'run',
      '--config',
      configPath,
      '--api',
      `unix:${socketPath}`,
      '--state-dir',
      path.join(dir, 'state'),
      '--members',
      path.join(dir, 'no-such-members.yaml'),
      '--metrics-address',
      `${loopback(91)}:0`,
      '--log-format',
      'json',
      '--log-level',
      'debug',
    ]);
    const running = await agent.waitForLog('kubeprism running');
    metrics = splitAddress(running.metrics as string);
  }, 30_000);

  afterAll(async () => {
    await agent?.kill();
    if (holder) await closeServer(holder);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves the agent’s metrics, build_info among them, as the debug API does', async () => {
    expect(metrics.host).toBe(loopback(91));
    const fromDebugApi = await httpRequest({ socketPath }, '/metrics');
    const fromListener = await httpRequest(metrics, '/metrics');
    expect(fromListener.status).toBe(200);
    expect(fromListener.headers['content-type']).toBe(fromDebugApi.headers['content-type']);
    // Values move between two scrapes; the metrics registered (HELP/TYPE lines) do not.
    const declared = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('# '));
    expect(declared(fromListener.body)).toEqual(declared(fromDebugApi.body));
    expect(declared(fromListener.body).length).toBeGreaterThan(20);
    const buildInfo = seriesOf(fromListener.body).filter((s) => s.startsWith('kubeprism_build_info'));
    expect(buildInfo).toHaveLength(1);
    expect(buildInfo[0]).toMatch(
      new RegExp(
        `^kubeprism_build_info\\{version="${PKG_VERSION.replace(/\./g, '\\.')}",commit="([0-9a-f]{40})?",node="${process.version}",platform="${process.platform}/${process.arch}"\\}$`,
      ),
    );
    expect(fromListener.body).toMatch(/^kubeprism_build_info\{.*\} 1$/m);
  });

  it('serves /healthz and nothing else: 404 for other paths, 405 for other methods', async () => {
    expect(await httpRequest(metrics, '/healthz')).toMatchObject({ status: 200, body: '{"status":"ok"}\n' });
    for (const route of ['/v1/resources', '/v1/definitions', '/v1/graph', '/'])
      expect((await httpRequest(metrics, route)).status, route).toBe(404);
    expect((await httpRequest(metrics, '/v1/config', 'PUT')).status).toBe(404);
    expect((await httpRequest(metrics, '/metrics', 'POST')).status).toBe(405);
    // The debug API still answers its routes on its own address.
    expect((await httpRequest({ socketPath }, '/v1/resources/kps')).status).toBe(200);
  });

  it('logs one component per line, ISO-8601 times, and expected conditions without stack traces', async () => {
    const listenFailed = await agent.waitForLog('listen failed; retrying');
    const membersMissing = await agent.waitFor(
      () => agent.logs().find((l) => l.component === 'members-source' && (l.err as { code?: string } | undefined)?.code === 'ENOENT'),
      'the missing members file logged',
    );
    expect(listenFailed).toMatchObject({ component: 'loadbalancer-listener', err: { code: 'KP_ERR_LISTEN' } });
    expect((listenFailed.err as { message: string }).message).toContain('EADDRINUSE');
    for (const line of [listenFailed, membersMissing]) expect(line.err).not.toHaveProperty('stack');

    const lines = agent.lines();
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) {
      expect(line.split('"component":').length - 1, line).toBeLessThanOrEqual(1);
      expect(line, line).toMatch(/^\{"level":\d+,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",/);
      expect(line, line).not.toContain('"stack"');
    }
  });

  it('stops on SIGTERM with exit 0 and releases the metrics address', async () => {
    expect(await agent.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    await expect(httpRequest(metrics, '/healthz')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('kubeprism run: a bad --metrics-address or --log-format', () => {
  beforeAll(() => assertBuilt());

  it('refuses to start with the reason and its code', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-observe-bad-'));
    try {
      const { configPath } = await writeAgentConfig(dir);
      const common = ['run', '--config', configPath, '--api', `unix:${path.join(dir, 'api.sock')}`, '--state-dir', path.join(dir, 'state')];
      const named = await kubeprism([...common, '--metrics-address', 'node-1.example.com:9100']);
      expect(named.code).toBe(1);
      expect(named.stderr).toBe(
        'kubeprism: cannot start: invalid metrics address "node-1.example.com:9100": "node-1.example.com" is not an IP address (use 0.0.0.0:PORT or [::]:PORT for every interface) (KP_ERR_METRICS_ADDRESS)\n',
      );
      const format = await kubeprism([...common, '--log-format', 'xml']);
      expect(format.code).not.toBe(0);
      expect(format.stderr).toContain("option '--log-format <format>' argument 'xml' is invalid. Allowed choices are json, pretty, auto.");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
