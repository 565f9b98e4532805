import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { interval } from 'rxjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { v1alpha1Config } from '../harness/configs.js';
import { eventually } from '../harness/eventually.js';
import { freePort, loopback } from '../harness/ports.js';
import { httpRequest } from './ops-helpers.js';
import { assertBuilt, kubeprism, Spawned } from './process.js';

// The built agent: apply-config outlives a restart until the file changes, SIGHUP applies the file,
// metricsAddress in the config moves the listener live, and the command line and the config may not
// adopt the same kubeconfig.

let dir: string;
let agent: Spawned | undefined;
beforeAll(() => assertBuilt());
afterEach(async () => {
  await agent?.kill();
  agent = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
});

const configFile = (): string => path.join(dir, 'config.yaml');
const socket = (): string => path.join(dir, 'api.sock');
const api = (): string[] => ['--api', `unix:${socket()}`];

/** A worker whose KubePrism port tells configs apart; nothing listens on its endpoint. */
function config(port: number, extra: Record<string, unknown> = {}): string {
  return v1alpha1Config({
    machineType: 'worker',
    endpoint: `https://${loopback(199)}:6443`,
    kubePrism: { enabled: true, port, healthCheck: { mode: 'tcp', interval: '1s', timeout: '500ms' }, ...extra },
  });
}

async function start(...extra: string[]): Promise<Spawned> {
  agent = new Spawned([
    'run',
    '--config',
    configFile(),
    ...api(),
    '--state-dir',
    path.join(dir, 'state'),
    '--log-format',
    'json',
    ...extra,
  ]);
  await agent.waitForLog('kubeprism running');
  return agent;
}

/** The KubePrism port in force, asked again until it is `want`. */
function portInForce(want: number): Promise<void> {
  return eventually(interval(100), async () => {
    const result = await kubeprism(['get', 'kpc', '-o', 'jsonpath={.items[0].spec.port}', ...api()]);
    expect(result.stdout).toBe(String(want));
  });
}

describe('kubeprism run: config sources', () => {
  it('apply-config survives a restart while the file is unchanged; SIGHUP applies the file', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-e2e-sources-'));
    const [fromFile, applied] = [await freePort(), await freePort()];
    await writeFile(configFile(), config(fromFile));
    await start();
    await portInForce(fromFile);
    await writeFile(path.join(dir, 'applied.yaml'), config(applied));
    expect((await kubeprism(['apply-config', path.join(dir, 'applied.yaml'), ...api()])).code).toBe(0);
    await portInForce(applied);

    expect(await agent!.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    await start();
    await portInForce(applied);
    const status = await kubeprism(['get', 'mcs', '-o', 'jsonpath={.items[0].spec.source} {.items[0].spec.restoredFrom}', ...api()]);
    expect(status.stdout).toBe(`api ${path.join(dir, 'state', 'machine-config.yaml')}`);

    agent!.child.kill('SIGHUP');
    await portInForce(fromFile);
  });
});

describe('kubeprism run: metricsAddress in the config', () => {
  it('serves metrics where the config says, and follows a change live', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-e2e-metrics-'));
    const kubePrismPort = await freePort();
    const first = { host: loopback(93), port: await freePort(loopback(93)) };
    const second = { host: loopback(94), port: await freePort(loopback(94)) };
    await writeFile(configFile(), config(kubePrismPort, { metricsAddress: `${first.host}:${first.port}` }));
    await start();
    await eventually(interval(100), async () => expect((await httpRequest(first, '/healthz')).status).toBe(200));
    await writeFile(configFile(), config(kubePrismPort, { metricsAddress: `${second.host}:${second.port}` }));
    await eventually(interval(100), async () => expect((await httpRequest(second, '/metrics')).status).toBe(200));
    await expect(httpRequest(first, '/healthz')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('kubeprism run: a kubeconfig adopted twice', () => {
  it('refuses to start, naming the flag and the config entry', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-e2e-adopt-'));
    await writeFile(
      configFile(),
      config(await freePort(), { adoptKubeconfigs: [{ name: 'kubelet', path: '/etc/kubernetes/kubelet.conf' }] }),
    );
    const result = await kubeprism([
      'run',
      '--config',
      configFile(),
      ...api(),
      '--state-dir',
      path.join(dir, 'state'),
      '--adopt-kubeconfig',
      'kubelet=/var/lib/kubelet/kubeconfig',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'machine.features.kubePrism.adoptKubeconfigs.0.name: kubelet is also adopted by --adopt-kubeconfig kubelet=/var/lib/kubelet/kubeconfig; adopt it in one place only',
    );
    // Offline, without the command line, the same config is valid.
    expect((await kubeprism(['validate', configFile()])).code).toBe(0);
  });
});
