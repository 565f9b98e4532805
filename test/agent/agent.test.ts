import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, AgentStartError } from '../../src/agent/agent.js';
import { LAST_GOOD_FILE } from '../../src/agent/machine-config-source.js';
import {
  KUBEPRISM_CONFIG_ID,
  KUBEPRISM_ENDPOINTS_ID,
  KubePrismConfigType,
  KubePrismEndpointsType,
  MACHINE_CONFIG_ID,
  MachineConfigStatusType,
  MemberType,
} from '../../src/resources/index.js';
import { kindOf, ptr } from '../../src/runtime/index.js';
import { v1alpha1Config } from '../harness/configs.js';
import { eventually, eventuallyList, eventuallyResource, fileChanges } from '../harness/eventually.js';

const FIXTURES = path.resolve(import.meta.dirname, '..', 'fixtures', 'config');
const TALOS_FIXTURES = path.resolve(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures', 'talos');

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

describe('Agent: the chain from a machine config file to kubeconfig files', () => {
  it('turns a fixture config and members file into endpoints and kubeconfig files on disk', async () => {
    await freshDir();
    await copyFile(path.join(FIXTURES, 'v1alpha1-controlplane.yaml'), path.join(dir, 'config.yaml'));
    await copyFile(path.join(FIXTURES, 'members.yaml'), path.join(dir, 'members.yaml'));
    const a = await makeAgent({ membersPath: path.join(dir, 'members.yaml') });
    await a.start();
    await eventuallyResource(a.state, ptr(KubePrismEndpointsType, KUBEPRISM_ENDPOINTS_ID), (r) =>
      expect(r?.spec.endpoints.map((e) => `${e.host}:${e.port}`)).toEqual([
        'cluster.example.com:6443',
        'localhost:6443',
        '10.0.0.11:6443',
        'fd00::11:6443',
        '10.0.0.12:5443',
      ]),
    );
    const out = path.join(dir, 'out');
    await eventually(fileChanges(dir), async () => {
      for (const component of ['kubelet', 'kube-scheduler', 'kube-controller-manager']) {
        const kubeconfig = parse(await readFile(path.join(out, component, 'kubeconfig'), 'utf8'));
        // KubePrism is not listening in this test (no balancer), so control-plane components use localhost.
        expect(kubeconfig.clusters[0]).toMatchObject({ name: 'prod-eu', cluster: { server: 'https://localhost:6443' } });
      }
      const proxy = parse(await readFile(path.join(out, 'kube-proxy', 'kubeconfig-in-cluster.yaml'), 'utf8'));
      expect(parse(proxy.data.kubeconfig).clusters[0].cluster.server).toBe('https://cluster.example.com:6443');
    });
    const status = await a.state.get(statusPtr);
    expect(status.spec).toMatchObject({ source: `file:${path.join(dir, 'config.yaml')}`, usingLastGood: false, appliedVersion: 1 });
    expect(await readFile(path.join(dir, 'state', LAST_GOOD_FILE), 'utf8')).toContain('clusterName: prod-eu');
  });

  it.skipIf(!existsSync(TALOS_FIXTURES))('runs the real Talos 1.15 control-plane fixture end to end (skipped: ../shared/fixtures/talos missing)', async () => {
    await freshDir();
    await copyFile(path.join(TALOS_FIXTURES, 'v1.15-base-controlplane.yaml'), path.join(dir, 'config.yaml'));
    const a = await makeAgent();
    await a.start();
    await eventuallyResource(a.state, kpcPtr, (r) => expect(r?.spec.port).toBeGreaterThan(0));
    await eventually(fileChanges(dir), async () => {
      const kubeconfig = parse(await readFile(path.join(dir, 'out', 'kubelet', 'kubeconfig'), 'utf8'));
      expect(kubeconfig.clusters[0].cluster.server).toMatch(/^https:\/\/localhost:\d+$/);
    });
  });
});

describe('Agent: config sources', () => {
  it('picks up a config rewritten in place, replaced by rename, and on reload (SIGHUP)', async () => {
    await freshDir();
    const file = path.join(dir, 'config.yaml');
    await writeFile(file, v1alpha1Config({ kubePrism: { enabled: true, port: 7445 } }));
    const a = await makeAgent();
    await a.start();
    await eventuallyResource(a.state, kpcPtr, (r) => expect(r?.spec.port).toBe(7445));

    await writeFile(file, v1alpha1Config({ kubePrism: { enabled: true, port: 7446 } }));
    await eventuallyResource(a.state, kpcPtr, (r) => expect(r?.spec.port).toBe(7446));

    const temporary = path.join(dir, '.config.yaml.swp');
    await writeFile(temporary, v1alpha1Config({ kubePrism: { enabled: true, port: 7447 } }));
    await rename(temporary, file);
    await eventuallyResource(a.state, kpcPtr, (r) => expect(r?.spec.port).toBe(7447));

    // What SIGHUP triggers: an explicit re-read (here after a write the watcher may not have seen yet).
    await writeFile(file, v1alpha1Config({ kubePrism: { enabled: true, port: 7448 } }));
    await a.reloadConfig();
    await eventuallyResource(a.state, kpcPtr, (r) => expect(r?.spec.port).toBe(7448));
  });

  it('keeps the config in force when the file is deleted, truncated or garbage, and reports it', async () => {
    await freshDir();
    const file = path.join(dir, 'config.yaml');
    await writeFile(file, v1alpha1Config({ kubePrism: { enabled: true, port: 7445 } }));
    const a = await makeAgent();
    await a.start();
    const applied = await eventuallyResource(a.state, kpcPtr, (r) => {
      expect(r?.spec.port).toBe(7445);
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
      await writeFile(file, v1alpha1Config({ kubePrism: { enabled: true, port: 7445 } }));
      await eventuallyResource(a.state, statusPtr, (s) => expect(s?.spec.lastError, what).toBeUndefined());
    }
  });

  it('starts on the last good config when the file is missing or broken, and says so', async () => {
    await freshDir();
    const file = path.join(dir, 'config.yaml');
    await writeFile(file, v1alpha1Config({ kubePrism: { enabled: true, port: 7449 } }));
    const first = await makeAgent();
    await first.start();
    await eventuallyResource(first.state, kpcPtr, (r) => expect(r?.spec.port).toBe(7449));
    await first.stop();

    await writeFile(file, 'version: v1alpha2\n');
    const second = await makeAgent();
    await second.start();
    await eventuallyResource(second.state, kpcPtr, (r) => expect(r?.spec.port).toBe(7449));
    const status = await second.state.get(statusPtr);
    expect(status.spec).toMatchObject({ usingLastGood: true, source: `last-good:${path.join(dir, 'state', LAST_GOOD_FILE)}` });
    expect(status.spec.lastError?.issues.map((i) => i.path)).toContain('version');
    await second.stop();

    await rm(file);
    const third = await makeAgent();
    await third.start();
    await eventuallyResource(third.state, kpcPtr, (r) => expect(r?.spec.port).toBe(7449));
    expect((await third.state.get(statusPtr)).spec.lastError?.message).toMatch(/cannot read/);
    // The file comes back: the agent switches to it by itself.
    await writeFile(file, v1alpha1Config({ kubePrism: { enabled: true, port: 7450 } }));
    await eventuallyResource(third.state, kpcPtr, (r) => expect(r?.spec.port).toBe(7450));
    await eventuallyResource(third.state, statusPtr, (s) => expect(s?.spec).toMatchObject({ usingLastGood: false, source: `file:${file}` }));
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
    await writeFile(path.join(dir, 'config.yaml'), v1alpha1Config());
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
    const result = await a.applyConfig(v1alpha1Config({ kubePrism: { enabled: true, port: 7451 } }), 'api');
    expect(result).toMatchObject({ applied: true });
    await eventuallyResource(a.state, kpcPtr, (r) => expect(r?.spec.port).toBe(7451));
    expect((await a.state.get(statusPtr)).spec.persistError).toMatch(/cannot save last good config/);
  });

  it('syncs members from a file and keeps members fed from elsewhere', async () => {
    await freshDir();
    await writeFile(path.join(dir, 'config.yaml'), v1alpha1Config());
    const members = path.join(dir, 'members.yaml');
    await copyFile(path.join(FIXTURES, 'members.yaml'), members);
    const a = await makeAgent({ membersPath: members });
    await a.start();
    await a.putMember('api-fed', { nodeId: 'n', hostname: 'n', machineType: 'controlplane', addresses: ['10.9.9.9'], controlPlane: { apiServerPort: 6443 } }, 'api');
    await eventuallyList(a.state, kindOf(MemberType), (items) => expect(items.map((m) => m.metadata.id)).toEqual(['api-fed', 'cp-1', 'cp-2', 'worker-1']));
    await writeFile(members, 'members:\n  - {id: cp-1, hostname: cp-1, machineType: controlplane, addresses: [10.0.0.11], controlPlane: {}}\n');
    await eventuallyList(a.state, kindOf(MemberType), (items) => expect(items.map((m) => m.metadata.id)).toEqual(['api-fed', 'cp-1']));
    await writeFile(members, 'members: [{id: "bad id!"}]\n');
    expect(await a.reloadMembers()).toMatchObject({ applied: false });
    expect((await a.state.list(kindOf(MemberType))).map((m) => m.metadata.id)).toEqual(['api-fed', 'cp-1']);
  });
});
