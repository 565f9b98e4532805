import { chmod, copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Agent, AgentStartError } from '../../src/agent/agent.js';
import { parsePersisted } from '../../src/agent/config-store.js';
import { LAST_GOOD_FILE } from '../../src/agent/machine-config-source.js';
import {
  DiscoveryStatusType,
  KUBEPRISM_STATUS_ID,
  KubePrismStatusType,
  KubePrismUpstreamType,
  KUBEPRISM_CONFIG_ID,
  KUBEPRISM_ENDPOINTS_ID,
  KubePrismConfigType,
  KubePrismEndpointsType,
  MACHINE_CONFIG_ID,
  MachineConfigStatusType,
  MEMBERS_FILE_DISCOVERY_ID,
  MemberType,
} from '../../src/resources/index.js';
import { kindOf, ptr } from '../../src/runtime/index.js';
import { v1alpha1Config } from '../harness/configs.js';
import { eventually, eventuallyList, eventuallyResource, fileChanges } from '../harness/eventually.js';
import { agentMetric } from '../reliability/fixture.js';
import { FakeApiServer, httpsGet } from '../harness/fake-apiserver.js';
import { connectTo, fixedPort, refusingPort, type RefusingPort } from '../harness/ports.js';

const FIXTURES = path.resolve(import.meta.dirname, '..', 'fixtures', 'config');

let dir: string;
let agent: Agent | undefined;

async function makeAgent(extra: Partial<Parameters<typeof Agent.create>[0]> = {}): Promise<Agent> {
  agent = await Agent.create({
    configPath: path.join(dir, 'config.yaml'),
    stateDir: path.join(dir, 'state'),
    outputDir: path.join(dir, 'out'),
    watchDebounceMs: 20,
    watchPollMs: 100,
    ...extra,
  });
  return agent;
}

const statusPtr = ptr(MachineConfigStatusType, MACHINE_CONFIG_ID);
const kpcPtr = ptr(KubePrismConfigType, KUBEPRISM_CONFIG_ID);

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  if (dir) {
    await chmod(path.join(dir, 'state'), 0o755).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});

async function freshDir(): Promise<void> {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-agent-'));
}

describe('Agent: the chain from a machine config file to the balancer and kubeconfig files', () => {
  const servers: FakeApiServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('turns a fixture config and a members file into a listening balancer and kubeconfigs pointing at it', async () => {
    await freshDir();
    for (const [name, host] of [
      ['external', '127.0.0.2'],
      ['cp-a', '127.0.0.3'],
      ['cp-b', '127.0.0.4'],
    ] as const) {
      servers.push(await FakeApiServer.start({ name, host }));
    }
    const [external, cpA, cpB] = servers as [FakeApiServer, FakeApiServer, FakeApiServer];
    const kubePrismPort = await fixedPort();
    const local = await refusingPort(['127.0.0.1']); // no local API server: held by the test, nothing listens
    onTestFinished(() => local.release());
    const localPort = local.port;
    // The fixture as an operator wrote it, pointed at this machine's fake API servers (tests stay on loopback).
    const fixture = (await readFile(path.join(FIXTURES, 'v1alpha1-controlplane.yaml'), 'utf8'))
      .replace('https://cluster.example.com:6443', `https://127.0.0.2:${external.port}`)
      .replace('port: 7445', `port: ${kubePrismPort}\n            healthCheck: {mode: readyz, interval: 200ms, timeout: 150ms}`)
      .replace('controlPlane:\n        endpoint', `controlPlane:\n        localAPIServerPort: ${localPort}\n        endpoint`);
    await writeFile(path.join(dir, 'config.yaml'), fixture);
    await writeFile(
      path.join(dir, 'members.yaml'),
      `members:\n  - {id: cp-a, hostname: cp-a, machineType: controlplane, addresses: [127.0.0.3], controlPlane: {apiServerPort: ${cpA.port}}}\n  - {id: cp-b, hostname: cp-b, machineType: controlplane, addresses: [127.0.0.4], controlPlane: {apiServerPort: ${cpB.port}}}\n  - {id: w-1, hostname: w-1, machineType: worker, addresses: [127.0.0.5]}\n`,
    );
    const a = await makeAgent({ membersPath: path.join(dir, 'members.yaml') });
    await a.start();
    await eventuallyResource(a.state, ptr(KubePrismEndpointsType, KUBEPRISM_ENDPOINTS_ID), (r) =>
      expect(r?.spec.endpoints.map((e) => `${e.source} ${e.host}:${e.port}`)).toEqual([
        `clusterEndpoint 127.0.0.2:${external.port}`,
        `localAPIServer localhost:${localPort}`,
        `member 127.0.0.3:${cpA.port}`,
        `member 127.0.0.4:${cpB.port}`,
      ]),
    );
    await eventuallyResource(a.state, ptr(KubePrismStatusType, KUBEPRISM_STATUS_ID), (r) =>
      expect(r?.spec).toEqual({ host: `127.0.0.1:${kubePrismPort}`, healthy: true, listening: true }),
    );
    await eventuallyList(a.state, kindOf(KubePrismUpstreamType), (items) =>
      expect(items.map((u) => [u.metadata.id, u.spec.healthy])).toEqual([
        [`127.0.0.2:${external.port}`, true],
        [`127.0.0.3:${cpA.port}`, true],
        [`127.0.0.4:${cpB.port}`, true],
        [`localhost:${localPort}`, false],
      ]),
    );
    const answer = await httpsGet('127.0.0.1', kubePrismPort, '/version');
    expect(['external', 'cp-a', 'cp-b']).toContain(JSON.parse(answer.body).name);

    const out = path.join(dir, 'out');
    await eventually(fileChanges(dir), async () => {
      for (const component of ['kubelet', 'kube-scheduler', 'kube-controller-manager']) {
        const kubeconfig = parse(await readFile(path.join(out, component, 'kubeconfig'), 'utf8'));
        expect(kubeconfig.clusters[0]).toMatchObject({ name: 'prod-eu', cluster: { server: `https://127.0.0.1:${kubePrismPort}` } });
      }
      const proxy = parse(await readFile(path.join(out, 'kube-proxy', 'kubeconfig-in-cluster.yaml'), 'utf8'));
      expect(parse(proxy.data.kubeconfig).clusters[0].cluster.server).toBe(`https://127.0.0.1:${kubePrismPort}`);
    });
    const status = await a.state.get(statusPtr);
    expect(status.spec).toMatchObject({ source: `file:${path.join(dir, 'config.yaml')}`, usingLastGood: false, appliedVersion: 1 });
    expect(await readFile(path.join(dir, 'state', LAST_GOOD_FILE), 'utf8')).toContain('clusterName: prod-eu');
    const metrics = await a.metrics.metrics();
    expect(metrics).toContain(`kubeprism_upstream_healthy{upstream="127.0.0.3:${cpA.port}"} 1`);
    expect(metrics).toContain('kubeprism_controller_wakeups_total{controller="KubePrismController"}');

    // Disabling KubePrism closes the listener and sends the components back to their fallbacks.
    await writeFile(path.join(dir, 'config.yaml'), fixture.replace('enabled: true', 'enabled: false'));
    await eventuallyResource(a.state, ptr(KubePrismStatusType, KUBEPRISM_STATUS_ID), (r) => expect(r).toBeUndefined());
    await expect(connectTo('127.0.0.1', kubePrismPort)).rejects.toThrow(/ECONNREFUSED/);
    await eventually(fileChanges(dir), async () => {
      const kubeconfig = parse(await readFile(path.join(out, 'kubelet', 'kubeconfig'), 'utf8'));
      expect(kubeconfig.clusters[0].cluster.server).toBe(`https://localhost:${localPort}`);
    });
  });
});

describe('Agent: config sources', () => {
  // Every config binds a port of its own and points at a closed loopback port: nothing leaves this machine.
  let ports: number[] = [];
  let closed: RefusingPort | undefined;
  beforeAll(async () => {
    closed = await refusingPort(['127.0.0.1']);
    ports = [...(await Promise.all(Array.from({ length: 11 }, () => fixedPort()))), closed.port];
  });
  afterAll(() => closed?.release());
  const cfg = (n: number): string =>
    v1alpha1Config({
      machineType: 'worker',
      endpoint: `https://127.0.0.1:${ports[11]}`,
      kubePrism: { enabled: true, port: ports[n], healthCheck: { mode: 'tcp', interval: '1s', timeout: '200ms' } },
    });

  it('picks up a config rewritten in place, replaced by rename, and on reload (SIGHUP)', async () => {
    await freshDir();
    const file = path.join(dir, 'config.yaml');
    await writeFile(file, cfg(0));
    const a = await makeAgent();
    await a.start();
    await eventuallyResource(a.state, kpcPtr, (r) => expect(r?.spec.port).toBe(ports[0]));

    await writeFile(file, cfg(1));
    await eventuallyResource(a.state, kpcPtr, (r) => expect(r?.spec.port).toBe(ports[1]));

    const temporary = path.join(dir, '.config.yaml.swp');
    await writeFile(temporary, cfg(2));
    await rename(temporary, file);
    await eventuallyResource(a.state, kpcPtr, (r) => expect(r?.spec.port).toBe(ports[2]));

    // What SIGHUP triggers: an explicit re-read (here after a write the watcher may not have seen yet).
    await writeFile(file, cfg(3));
    await a.reloadConfig();
    await eventuallyResource(a.state, kpcPtr, (r) => expect(r?.spec.port).toBe(ports[3]));
  });

  it('keeps the config in force when the file is deleted, truncated or garbage, and reports it', async () => {
    await freshDir();
    const file = path.join(dir, 'config.yaml');
    await writeFile(file, cfg(0));
    const a = await makeAgent();
    await a.start();
    const applied = await eventuallyResource(a.state, kpcPtr, (r) => {
      expect(r?.spec.port).toBe(ports[0]);
      return r!;
    });
    for (const [what, breakIt] of [
      ['garbage', () => writeFile(file, '{{{ not: yaml')],
      ['truncated', () => writeFile(file, '')],
      ['deleted', () => rm(file)],
    ] as const) {
      await breakIt();
      await eventuallyResource(a.state, statusPtr, (s) => expect(s?.spec.lastError?.message, what).toBeDefined());
      expect((await a.state.get(kpcPtr)).metadata.version).toBe(applied.metadata.version);
      await writeFile(file, cfg(0));
      await eventuallyResource(a.state, statusPtr, (s) => expect(s?.spec.lastError, what).toBeUndefined());
    }
  });

  it('starts on the last good config when the file is missing or broken, and says so', async () => {
    await freshDir();
    const file = path.join(dir, 'config.yaml');
    await writeFile(file, cfg(4));
    const first = await makeAgent();
    await first.start();
    await eventuallyResource(first.state, kpcPtr, (r) => expect(r?.spec.port).toBe(ports[4]));
    await first.stop();

    await writeFile(file, 'version: v1alpha2\n');
    const second = await makeAgent();
    await second.start();
    await eventuallyResource(second.state, kpcPtr, (r) => expect(r?.spec.port).toBe(ports[4]));
    const status = await second.state.get(statusPtr);
    expect(status.spec).toMatchObject({ usingLastGood: true, source: `last-good:${path.join(dir, 'state', LAST_GOOD_FILE)}` });
    expect(status.spec.lastError?.issues.map((i) => i.path)).toContain('version');
    expect(await agentMetric(second, 'kubeprism_machine_config_using_last_good')).toBe(1);
    expect(await agentMetric(second, 'kubeprism_machine_config_last_rejection_timestamp_seconds')).toBeCloseTo(
      Date.parse(status.spec.lastError?.at ?? '') / 1000,
      3,
    );
    await second.stop();

    await rm(file);
    const third = await makeAgent();
    await third.start();
    await eventuallyResource(third.state, kpcPtr, (r) => expect(r?.spec.port).toBe(ports[4]));
    expect((await third.state.get(statusPtr)).spec.lastError?.message).toMatch(/cannot read/);
    // The file comes back: the agent switches to it by itself.
    await writeFile(file, cfg(5));
    await eventuallyResource(third.state, kpcPtr, (r) => expect(r?.spec.port).toBe(ports[5]));
    await eventuallyResource(third.state, statusPtr, (s) =>
      expect(s?.spec).toMatchObject({ usingLastGood: false, source: `file:${file}` }),
    );
  });

  it('refuses to start with neither a usable config nor a last good one', async () => {
    await freshDir();
    await writeFile(path.join(dir, 'config.yaml'), 'machine: [');
    const a = await makeAgent();
    await expect(a.start()).rejects.toBeInstanceOf(AgentStartError);
    await expect(a.start()).rejects.toThrow(/invalid/);
  });

  it('keeps applying configs when the state directory is unwritable, and reports it', async () => {
    await freshDir();
    await writeFile(path.join(dir, 'config.yaml'), cfg(9));
    const state = path.join(dir, 'state');
    await writeFile(path.join(dir, 'placeholder'), '');
    const a = await makeAgent();
    await a.start();
    if (process.getuid?.() === 0) {
      // root ignores permission bits: make the last-good path a directory instead, which no one can rename over.
      await rm(path.join(state, LAST_GOOD_FILE));
      await import('node:fs/promises').then((fs) => fs.mkdir(path.join(state, LAST_GOOD_FILE, 'blocker'), { recursive: true }));
    } else {
      await chmod(state, 0o500);
    }
    const result = await a.applyConfig(cfg(10), 'api');
    expect(result).toMatchObject({ applied: true });
    await eventuallyResource(a.state, kpcPtr, (r) => expect(r?.spec.port).toBe(ports[10]));
    expect((await a.state.get(statusPtr)).spec.persistError).toMatch(/cannot save last good config/);
    // The directory comes back: the agent saves the last good copy by itself (retry with backoff).
    if (process.getuid?.() === 0) await rm(path.join(state, LAST_GOOD_FILE), { recursive: true, force: true });
    else await chmod(state, 0o755);
    await eventuallyResource(a.state, statusPtr, (s) => expect(s?.spec.persistError).toBeUndefined());
    expect(parsePersisted(await readFile(path.join(state, LAST_GOOD_FILE), 'utf8'))).toMatchObject({ text: cfg(10), source: 'api' });
  });

  it('syncs members from a file and keeps members fed from elsewhere', async () => {
    await freshDir();
    // KubePrism off: the members here have addresses off this machine, which a balancer would check.
    await writeFile(path.join(dir, 'config.yaml'), v1alpha1Config({ machineType: 'worker', kubePrism: { enabled: false } }));
    const members = path.join(dir, 'members.yaml');
    await copyFile(path.join(FIXTURES, 'members.yaml'), members);
    const a = await makeAgent({ membersPath: members });
    await a.start();
    await a.putMember(
      'api-fed',
      { nodeId: 'n', hostname: 'n', machineType: 'controlplane', addresses: ['10.9.9.9'], controlPlane: { apiServerPort: 6443 } },
      'api',
    );
    await eventuallyList(a.state, kindOf(MemberType), (items) =>
      expect(items.map((m) => m.metadata.id)).toEqual(['api-fed', 'cp-1', 'cp-2', 'worker-1']),
    );
    await writeFile(
      members,
      'members:\n  - {id: cp-1, hostname: cp-1, machineType: controlplane, addresses: [10.0.0.11], controlPlane: {}}\n',
    );
    await eventuallyList(a.state, kindOf(MemberType), (items) => expect(items.map((m) => m.metadata.id)).toEqual(['api-fed', 'cp-1']));
    const statusPtr = ptr(DiscoveryStatusType, MEMBERS_FILE_DISCOVERY_ID);
    // The second read of the file (the first gave the fixture's three members): one re-read.
    await eventuallyResource(a.state, statusPtr, (r) =>
      expect(r?.spec).toMatchObject({ phase: 'watching', file: members, members: 1, relists: 1 }),
    );
    expect((await a.state.get(statusPtr)).spec.lastError).toBeUndefined();
    await writeFile(members, 'members: [{id: "bad id!"}]\n');
    expect(await a.reloadMembers()).toMatchObject({ applied: false });
    expect((await a.state.list(kindOf(MemberType))).map((m) => m.metadata.id)).toEqual(['api-fed', 'cp-1']);
    // The rejection is in the file's status, with the path; what the file gave before stays counted.
    const rejected = (await a.state.get(statusPtr)).spec;
    expect(rejected).toMatchObject({ phase: 'rejected', members: 1, lastError: { code: 'KP_ERR_INVALID_CONFIG' } });
    expect(rejected.lastError?.message).toContain('members.0.id');
    // And in the metrics an operator alerts on.
    const metric = (name: string, labels: Record<string, string> = {}) => agentMetric(a, name, labels);
    expect(await metric('kubeprism_discovery_phase', { source: 'members-file', phase: 'rejected' })).toBe(1);
    expect(await metric('kubeprism_discovery_phase', { source: 'members-file', phase: 'watching' })).toBe(0);
    expect(await metric('kubeprism_discovery_members', { source: 'members-file' })).toBe(1);
    expect(await metric('kubeprism_discovery_last_error_timestamp_seconds', { source: 'members-file' })).toBeCloseTo(
      Date.parse(rejected.lastError?.time ?? '') / 1000,
      3,
    );
    expect(await metric('kubeprism_discovery_phase', { source: 'kubernetes', phase: 'disabled' })).toBe(1);
    expect(await metric('kubeprism_machine_config_applied_version')).toBeGreaterThan(0);
    expect(await metric('kubeprism_machine_config_using_last_good')).toBe(0);
    await rm(members);
    await a.reloadMembers();
    const unreadable = (await a.state.get(statusPtr)).spec;
    expect(unreadable).toMatchObject({ phase: 'rejected', members: 1, lastError: { code: 'KP_ERR_MEMBERS_FILE_UNREADABLE' } });
    expect(unreadable.lastError?.message).toContain('ENOENT');
    await writeFile(
      members,
      'members:\n  - {id: cp-2, hostname: cp-2, machineType: controlplane, addresses: [10.0.0.12], controlPlane: {}}\n',
    );
    await eventuallyResource(a.state, statusPtr, (r) => expect(r?.spec).toMatchObject({ phase: 'watching', members: 1 }));
    expect((await a.state.list(kindOf(MemberType))).map((m) => m.metadata.id)).toEqual(['api-fed', 'cp-2']);
  });
});
