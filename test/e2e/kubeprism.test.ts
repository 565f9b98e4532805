import { lstat, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, CONFIG_SECRETS } from '../api/helpers.js';
import { v1alpha1Config } from '../harness/configs.js';
import { FakeApiServer, whoAnswers } from '../harness/fake-apiserver.js';
import { fixedPort, loopback, randomLoopback } from '../harness/ports.js';
import { assertBuilt, kubeprism, Spawned } from './process.js';

// End-to-end: the built binary, spawned the way an operator runs it. One agent serves most cases (each
// spawn costs a Node start-up); cases run in order and the last one stops it with SIGTERM.
// What is expected: the CLI and API contract of DESIGN.md, over a real process, with no secret leaking.

let dir: string;
let agent: Spawned;
let api: string;
let base: string;
let kubePrismPort: number;
const fakes: FakeApiServer[] = [];

const isBalancerWired = async (): Promise<boolean> => {
  const graph = (await call(base, 'GET', '/v1/graph')).json() as { controllers: Array<{ outputs: Array<{ type: string }> }> };
  return graph.controllers.some((c) => c.outputs.some((o) => o.type === 'KubePrismStatuses.kubernetes.talos.dev'));
};

/** Reads an NDJSON watch until `done(lines)` holds (with a deadline), then disconnects. */
async function watchUntil(
  route: string,
  done: (lines: Array<Record<string, unknown>>) => boolean,
  timeoutMs = 15_000,
): Promise<Array<Record<string, unknown>>> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`watch ${route} never satisfied within ${timeoutMs} ms`)), timeoutMs);
  const lines: Array<Record<string, unknown>> = [];
  try {
    const res = await fetch(`${base}${route}`, { signal: abort.signal });
    let buffered = '';
    for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      let i: number;
      while ((i = buffered.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buffered.slice(0, i)) as Record<string, unknown>);
        buffered = buffered.slice(i + 1);
      }
      if (done(lines)) return lines;
    }
    throw new Error(`watch ${route} ended early: ${JSON.stringify(lines).slice(0, 500)}`);
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-e2e-'));
  // The cluster endpoint and one control-plane member, each a fake API server on its own loopback address.
  fakes.push(await FakeApiServer.start({ name: 'endpoint', host: loopback(1) }));
  fakes.push(await FakeApiServer.start({ name: 'cp-1', host: loopback(2) }));
  // Told to the agent in advance: KubePrism's on 127.0.0.1 (its only host), the API's on an address of its own.
  kubePrismPort = await fixedPort();
  const apiHost = randomLoopback();
  api = `${apiHost}:${await fixedPort(apiHost)}`;
  base = `http://${api}`;
  await writeFile(
    path.join(dir, 'config.yaml'),
    v1alpha1Config({
      machineType: 'worker',
      endpoint: `https://${loopback(1)}:${fakes[0]!.port}`,
      kubePrism: { enabled: true, port: kubePrismPort, healthCheck: { interval: '200ms', timeout: '150ms' } },
    }),
  );
  const members = {
    members: [
      {
        id: 'cp-1',
        hostname: 'cp-1',
        machineType: 'controlplane',
        addresses: [loopback(2)],
        controlPlane: { apiServerPort: fakes[1]!.port },
      },
    ],
  };
  await writeFile(path.join(dir, 'members.yaml'), JSON.stringify(members));
  agent = new Spawned([
    'run',
    '--config',
    path.join(dir, 'config.yaml'),
    '--api',
    api,
    '--state-dir',
    path.join(dir, 'state'),
    '--members',
    path.join(dir, 'members.yaml'),
    '--log-level',
    'debug',
  ]);
  await agent.waitForLog('kubeprism running');
}, 30_000);

afterAll(async () => {
  await agent?.kill();
  for (const fake of fakes) await fake.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('kubeprism (the built binary)', () => {
  it('answers get, dump and graph', async () => {
    const table = await kubeprism(['get', 'members', '--api', api]);
    expect(table).toMatchObject({ code: 0, stderr: '' });
    expect(table.stdout.split('\n')[0]?.split(/\s{3,}/)).toEqual([
      'NAMESPACE',
      'TYPE',
      'ID',
      'VERSION',
      'AGE',
      'HOSTNAME',
      'MACHINE TYPE',
      'API PORT',
    ]);
    expect(table.stdout).toMatch(/cluster\s+Member\s+cp-1\s+1\s+\d+s\s+cp-1\s+controlplane\s+\d+\n/);
    const wide = await kubeprism(['get', 'members', '-o', 'wide', '--api', api]);
    expect(wide.stdout).toMatch(/cluster\s+Member\s+cp-1\s+1\s+\d+s\s+cp-1\s+controlplane\s+127\.0\.0\.2\s+\d+\n/);

    const kubelet = await kubeprism(['get', 'kubeletconfig', 'kubelet', '-o', 'yaml'], { env: { KUBEPRISM_API: api } });
    expect(kubelet.code).toBe(0);
    const doc = parseAllDocuments(kubelet.stdout)[0]?.toJS() as {
      node: string;
      metadata: { type: string };
      spec: { kubeconfigPath: string };
    };
    expect(doc.node).toBe(api);
    expect(doc.metadata.type).toBe('KubeletConfigs.kubernetes.talos.dev');
    expect(doc.spec.kubeconfigPath).toContain('kubelet');

    const dump = await kubeprism(['dump', '-o', 'json', '--api', api]);
    const types = new Set((JSON.parse(dump.stdout) as Array<{ metadata: { type: string } }>).map((r) => r.metadata.type));
    for (const type of ['MachineConfigs.config.talos.dev', 'Members.cluster.talos.dev', 'KubePrismEndpoints.kubernetes.talos.dev'])
      expect(types).toContain(type);

    const graph = await kubeprism(['graph', '--api', api]);
    expect(graph.stdout).toMatch(/^digraph kubeprism \{[\s\S]*"KubePrismEndpointsController"/);
  });

  it('streams a watch with get -w, and stops cleanly on Ctrl-C', async () => {
    const watch = new Spawned(['get', 'members', '-w', '-o', 'json', '--api', api]);
    try {
      await watch.waitFor(() => watch.lines().some((l) => l.includes('"bootstrapped"')), 'bootstrapped');
      const spec = { nodeId: 'w-1', hostname: 'w-1', machineType: 'worker', addresses: ['10.9.9.9'] };
      expect((await call(base, 'PUT', '/v1/resources/members/w-1', JSON.stringify({ spec }))).status).toBe(201);
      expect((await call(base, 'DELETE', '/v1/resources/members/w-1')).status).toBe(200);
      await watch.waitFor(() => watch.lines().some((l) => l.includes('"destroyed"')), 'destroyed event');
      const events = watch.lines().map((l) => JSON.parse(l) as { event: string; resource?: { metadata: { id: string } } });
      expect(events.map((e) => `${e.event}:${e.resource?.metadata.id ?? ''}`)).toEqual([
        'created:cp-1',
        'bootstrapped:',
        'created:w-1',
        'updated:w-1', // tearing down
        'destroyed:w-1',
      ]);
      expect(await watch.stop('SIGINT')).toEqual({ code: 0, signal: null });
    } finally {
      await watch.kill();
    }
  });

  it('takes members through the API and derives endpoints from them', async () => {
    const spec = {
      nodeId: 'cp-9',
      hostname: 'cp-9',
      machineType: 'controlplane',
      addresses: ['127.0.99.99'], // checked by the balancer: loopback only
      controlPlane: { apiServerPort: 6443 },
    };
    expect((await call(base, 'PUT', '/v1/resources/members/cp-9', `spec: ${JSON.stringify(spec)}`, 'application/yaml')).status).toBe(201);
    const hasCp9 = (lines: Array<Record<string, unknown>>): boolean =>
      lines.some((l) => JSON.stringify((l.resource as { spec?: unknown } | undefined)?.spec ?? '').includes('"host":"127.0.99.99"'));
    await watchUntil('/v1/resources/kpe?watch=1', hasCp9);
    const got = await kubeprism(['get', 'members', 'cp-9', '-o', 'json', '--api', api]);
    expect(JSON.parse(got.stdout)).toMatchObject({ metadata: { id: 'cp-9', labels: { 'kubeprism.dev/source': 'api' } }, spec });
    const owned = await call(base, 'PUT', '/v1/resources/kps/k8s-loadbalancer', JSON.stringify({ spec: {} }));
    expect(owned.status).toBe(403);
    expect((await call(base, 'DELETE', '/v1/resources/members/cp-9')).status).toBe(200);
  });

  it('applies a good config and rejects a bad one with its errors, changing nothing', async () => {
    const version = async (): Promise<number> =>
      ((await call(base, 'GET', '/v1/resources/mc/v1alpha1')).json() as { metadata: { version: number } }).metadata.version;
    const before = await version();
    const good = path.join(dir, 'good.yaml');
    await writeFile(
      good,
      v1alpha1Config({
        machineType: 'worker',
        clusterName: 'e2e-applied',
        endpoint: `https://${loopback(1)}:${fakes[0]!.port}`,
        kubePrism: { enabled: true, port: kubePrismPort, healthCheck: { interval: '200ms', timeout: '150ms' } },
      }),
    );
    const applied = await kubeprism(['apply-config', good, '--api', api]);
    expect(applied).toMatchObject({ code: 0, stderr: '' });
    expect(await version()).toBe(before + 1);

    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, v1alpha1Config({ kubePrism: { enabled: true, port: 74450 } }));
    const rejected = await kubeprism(['apply-config', bad, '--api', api]);
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toContain('machine.features.kubePrism.port:');
    expect(await version()).toBe(before + 1);
    const status = await kubeprism(['get', 'mcs', '-o', 'json', '--api', api]);
    expect(JSON.parse(status.stdout)).toMatchObject({
      kind: 'List',
      items: [{ spec: { source: 'api', lastError: { issues: [{ path: 'machine.features.kubePrism.port' }] } } }],
    });
  });

  it('serves Prometheus metrics: process defaults and the controllers', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('nodejs_heap_size_used_bytes');
    expect(text).toMatch(/kubeprism_controller_wakeups_total\{controller="KubePrismEndpointsController"\} \d+/);
  });

  it('never shows a machine-config secret: API, CLI output, watch or logs', async () => {
    const outputs = [
      (await call(base, 'GET', '/v1/resources')).text,
      (await call(base, 'GET', '/v1/resources/MachineConfigs.config.talos.dev/v1alpha1')).text,
      (await kubeprism(['dump', '--api', api])).stdout,
      (await kubeprism(['get', 'mc', '-o', 'yaml', '--api', api])).stdout,
      (await kubeprism(['get', 'machineconfigs', '--api', api])).stdout,
      JSON.stringify(await watchUntil('/v1/resources/mc?watch=1', (l) => l.some((x) => x.event === 'bootstrapped'))),
      agent.stdout,
      agent.stderr,
    ];
    expect(outputs[2]).toContain('(redacted)');
    for (const [i, text] of outputs.entries()) {
      for (const secret of CONFIG_SECRETS) expect(text.includes(secret), `output ${i} contains ${secret}`).toBe(false);
    }
  });

  it('balances to the fake API servers once the KubePrism balancer reports healthy', async (ctx) => {
    if (!(await isBalancerWired())) ctx.skip();
    await watchUntil('/v1/resources/kps?watch=1', (lines) =>
      lines.some((l) => {
        const spec = (l.resource as { spec?: { healthy?: boolean; listening?: boolean } } | undefined)?.spec;
        return spec?.healthy === true && spec.listening === true;
      }),
    );
    expect(['endpoint', 'cp-1']).toContain(await whoAnswers('127.0.0.1', kubePrismPort));
  });

  it('stops cleanly on SIGTERM: exit 0, API and KubePrism port closed', async () => {
    expect(await agent.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(agent.logs().some((l) => l.msg === 'stopped')).toBe(true);
    const [apiHost, apiPort] = api.split(':') as [string, string];
    for (const [host, port] of [
      [apiHost, Number(apiPort)],
      ['127.0.0.1', kubePrismPort],
    ] as const) {
      const refused = await new Promise<boolean>((resolve) => {
        const socket = connect({ host, port });
        socket.once('connect', () => (socket.destroy(), resolve(false)));
        socket.once('error', () => resolve(true));
      });
      expect(refused, `port ${port} still open`).toBe(true);
    }
  });
});

describe('kubeprism run: refusals and other addresses', () => {
  it('refuses a non-loopback --api address at start, with its code', async () => {
    for (const address of [`0.0.0.0:${await fixedPort()}`, '[::]:7446']) {
      // refused before anything is bound
      const res = await kubeprism([
        'run',
        '--config',
        path.join(dir, 'config.yaml'),
        '--state-dir',
        path.join(dir, 'refused'),
        '--api',
        address,
      ]);
      expect(res.code, address).toBe(1);
      expect(res.stderr, address).toContain('KP_ERR_API_NOT_LOOPBACK');
      expect(res.stderr.trimEnd().split('\n'), address).toHaveLength(1);
    }
  });

  it('exits non-zero with the reason when no config can be used at start', async () => {
    const res = await kubeprism([
      'run',
      '--config',
      path.join(dir, 'missing.yaml'),
      '--state-dir',
      path.join(dir, 'empty-state'),
      '--api',
      `127.0.0.1:${await fixedPort()}`,
    ]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^kubeprism: cannot start: .*missing\.yaml.*\(KP_ERR_AGENT_START\)\n$/);
  });

  it('serves on a unix socket (mode 0600) and stops on SIGINT, removing the socket', async () => {
    const socket = path.join(dir, 'api.sock');
    const config = path.join(dir, 'unix-config.yaml');
    await writeFile(config, v1alpha1Config({ kubePrism: { enabled: false } }));
    const unixAgent = new Spawned(['run', '--config', config, '--api', `unix:${socket}`, '--state-dir', path.join(dir, 'unix-state')]);
    try {
      await unixAgent.waitForLog('kubeprism running');
      expect((await lstat(socket)).mode & 0o777).toBe(0o600);
      const got = await kubeprism(['get', 'mcs'], { env: { KUBEPRISM_API: `unix:${socket}` } });
      expect(got.code).toBe(0);
      expect(got.stdout).toContain('MachineConfigStatus');
      expect(await unixAgent.stop('SIGINT')).toEqual({ code: 0, signal: null });
      await expect(lstat(socket)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await unixAgent.kill();
    }
  });
});
