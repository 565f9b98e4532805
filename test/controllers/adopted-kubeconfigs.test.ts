import { chown, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ADOPTED_KUBECONFIG_CODES,
  AdoptedKubeconfigStatusType,
  AdoptedKubeconfigType,
  KUBEPRISM_STATUS_ID,
  KubeletConfigType,
  KubePrismStatusType,
} from '../../src/resources/index.js';
import { ptr } from '../../src/runtime/index.js';
import { v1alpha1Config } from '../harness/configs.js';
import { eventually, eventuallyResource, fileChanges } from '../harness/eventually.js';
import { startChain, type ChainHarness } from './chain.js';

// --adopt-kubeconfig and adoptKubeconfigs: the node's own kubeconfigs, rewritten to the server the one
// rule chooses, kept in step with the source file, reported in AdoptedKubeconfigStatuses.

let h: ChainHarness | undefined;
let dir: string | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
});

const TOKEN = 'first-secret-token';
const KEY_DATA = Buffer.from('-----BEGIN EC PRIVATE KEY-----\nkey\n-----END EC PRIVATE KEY-----\n').toString('base64');

function kubeconfig(options: { server?: string; token?: string } = {}): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: options.server ?? 'https://10.9.8.7:6443', 'certificate-authority-data': 'Q0EK' } }],
    users: [{ name: 'u', user: { token: options.token ?? TOKEN, 'client-key-data': KEY_DATA } }],
    contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'ctx',
  });
}

async function setListening(state: ChainHarness['state'], port = 7445): Promise<void> {
  await state.modify(
    ptr(KubePrismStatusType, KUBEPRISM_STATUS_ID),
    (d) => void (d.spec = { host: `127.0.0.1:${port}`, healthy: true, listening: true }),
    { owner: 'KubePrismController' },
  );
}

const workerWith = (adoptions?: Array<{ name: string; path: string }>): string =>
  v1alpha1Config({ machineType: 'worker', kubePrism: { enabled: true, ...(adoptions ? { adoptKubeconfigs: adoptions } : {}) } });

const statusOf = (name: string) => ptr(AdoptedKubeconfigStatusType, name);
const readYaml = async (
  file: string,
): Promise<{ clusters: Array<{ cluster: Record<string, string> }>; users: Array<{ user: Record<string, string> }> }> =>
  parse(await readFile(file, 'utf8'));

describe('adopted kubeconfigs', () => {
  it('writes the source with the chosen server: the original until KubePrism listens, then KubePrism with tls-server-name', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-adopted-'));
    const kubelet = path.join(dir, 'kubelet.conf');
    const agent = path.join(dir, 'cni-agent.kubeconfig');
    await writeFile(kubelet, kubeconfig(), { mode: 0o640 });
    await writeFile(agent, kubeconfig({ server: 'https://api.cluster.example:443' }), { mode: 0o600 });
    h = await startChain(undefined, { adoptions: [{ name: 'kubelet', path: kubelet }], watch: { debounceMs: 10, pollMs: 50 } });
    const { state, outputDir } = h;
    await h.config.apply(workerWith([{ name: 'cni-agent', path: agent }]), 'test');
    const changes = fileChanges(outputDir);
    const kubeletOut = path.join(outputDir, 'kubelet', 'kubeconfig');
    const agentOut = path.join(outputDir, 'cni-agent', 'kubeconfig');

    // Before KubePrism listens: each file's own server; the kubelet's replaces the generated kubeconfig.
    await eventually(changes, async () => {
      expect((await readYaml(kubeletOut)).clusters[0]?.cluster).toMatchObject({
        server: 'https://10.9.8.7:6443',
        'tls-server-name': '10.9.8.7',
      });
      expect((await readYaml(agentOut)).clusters[0]?.cluster.server).toBe('https://api.cluster.example:443');
    });
    expect((await readYaml(kubeletOut)).users[0]?.user).toEqual({ token: TOKEN, 'client-key-data': KEY_DATA });
    expect((await state.get(ptr(KubeletConfigType, 'kubelet'))).spec).toEqual({
      server: 'https://10.9.8.7:6443',
      tlsServerName: '10.9.8.7',
      kubeconfigPath: kubeletOut,
      source: kubelet,
    });
    expect((await state.get(statusOf('cni-agent'))).spec).toMatchObject({
      source: agent,
      origin: 'config',
      state: 'ready',
      server: 'https://api.cluster.example:443',
      tlsServerName: 'api.cluster.example',
      revision: 1,
    });
    expect((await state.get(statusOf('kubelet'))).spec.origin).toBe('flag');
    // The input's permissions (never looser), and its owner.
    expect((await stat(kubeletOut)).mode & 0o777).toBe(0o640);
    expect((await stat(agentOut)).mode & 0o777).toBe(0o600);

    await setListening(state);
    await eventually(changes, async () => {
      expect((await readYaml(kubeletOut)).clusters[0]?.cluster).toMatchObject({
        server: 'https://127.0.0.1:7445',
        'tls-server-name': '10.9.8.7',
      });
      expect((await readYaml(agentOut)).clusters[0]?.cluster).toMatchObject({
        server: 'https://127.0.0.1:7445',
        'tls-server-name': 'api.cluster.example',
      });
    });
    expect((await state.get(ptr(AdoptedKubeconfigType, 'cni-agent'))).spec).toMatchObject({
      server: 'https://127.0.0.1:7445',
      source: agent,
    });

    // Secrets never reach a resource.
    const everything = JSON.stringify(
      await Promise.all([
        state.list({ namespace: 'k8s', type: AdoptedKubeconfigStatusType.type }),
        state.list({ namespace: 'k8s', type: KubeletConfigType.type }),
      ]),
    );
    expect(everything).not.toContain(TOKEN);
    expect(everything).not.toContain(KEY_DATA.slice(0, 16));

    // Dropped from the config: its resource and its file go; the kubelet's (from the flag) stays.
    await h.config.apply(workerWith(), 'test');
    await eventually(changes, async () => expect(await exists(agentOut)).toBe(false));
    expect(await state.find(ptr(AdoptedKubeconfigType, 'cni-agent'))).toBeUndefined();
    expect(await exists(kubeletOut)).toBe(true);
  });

  it('follows the source: a rotation in place or by rename is written through; a broken source keeps the last copy and says why', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-adopted-'));
    const source = path.join(dir, 'kubelet.conf');
    await writeFile(source, kubeconfig(), { mode: 0o600 });
    if (process.getuid?.() === 0) await chown(source, 65534, 65534); // owner kept where the agent may set it
    h = await startChain(undefined, { adoptions: [{ name: 'kubelet', path: source }], watch: { debounceMs: 10, pollMs: 50 } });
    const { state, outputDir } = h;
    await h.config.apply(workerWith(), 'test');
    await setListening(state);
    const out = path.join(outputDir, 'kubelet', 'kubeconfig');
    const changes = fileChanges(outputDir);
    const tokenOf = async (): Promise<string | undefined> => (await readYaml(out)).users[0]?.user.token;
    await eventually(changes, async () => expect((await readYaml(out)).clusters[0]?.cluster.server).toBe('https://127.0.0.1:7445'));
    if (process.getuid?.() === 0) expect((await stat(out)).uid).toBe(65534);

    // Rotation, rewritten in place.
    await writeFile(source, kubeconfig({ token: 'second-token' }));
    await eventually(changes, async () => expect(await tokenOf()).toBe('second-token'));
    // Rotation, replaced by rename (how kubeadm and config tools write).
    await writeFile(path.join(dir, '.tmp'), kubeconfig({ token: 'third-token' }), { mode: 0o600 });
    await rename(path.join(dir, '.tmp'), source);
    await eventually(changes, async () => expect(await tokenOf()).toBe('third-token'));
    await eventuallyResource(state, statusOf('kubelet'), (r) => expect(r?.spec.revision).toBe(3));
    const good = await readFile(out, 'utf8');

    // Broken: the status says why with a stable code; the copy and the decision stay.
    for (const [broken, code] of [
      ['clusters: [oops', ADOPTED_KUBECONFIG_CODES.invalid],
      [kubeconfig().replace('current-context: ctx', 'current-context: gone'), ADOPTED_KUBECONFIG_CODES.noContext],
      [kubeconfig({ server: 'http://10.9.8.7:8080' }), ADOPTED_KUBECONFIG_CODES.server],
    ] as const) {
      await writeFile(source, broken);
      await eventuallyResource(state, statusOf('kubelet'), (r) =>
        expect(r?.spec).toMatchObject({ state: 'rejected', error: { code }, server: 'https://10.9.8.7:6443', revision: 3 }),
      );
      await h.engine.settled();
      expect(await readFile(out, 'utf8')).toBe(good);
      expect((await state.get(ptr(KubeletConfigType, 'kubelet'))).spec.server).toBe('https://127.0.0.1:7445');
    }
    await rm(source);
    await eventuallyResource(state, statusOf('kubelet'), (r) => expect(r?.spec.error?.code).toBe(ADOPTED_KUBECONFIG_CODES.missing));
    expect(await readFile(out, 'utf8')).toBe(good);

    // Repaired: written through again.
    await writeFile(source, kubeconfig({ token: 'fourth-token' }), { mode: 0o600 });
    await eventually(changes, async () => expect(await tokenOf()).toBe('fourth-token'));
    await eventuallyResource(state, statusOf('kubelet'), (r) => expect(r?.spec.state).toBe('ready'));
  });

  it('a source missing from the start writes nothing until it appears', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-adopted-'));
    const source = path.join(dir, 'later.conf');
    h = await startChain(undefined, { watch: { debounceMs: 10, pollMs: 50 } });
    const { state, outputDir } = h;
    await h.config.apply(workerWith([{ name: 'later', path: source }]), 'test');
    await eventuallyResource(state, statusOf('later'), (r) =>
      expect(r?.spec).toMatchObject({ state: 'rejected', error: { code: ADOPTED_KUBECONFIG_CODES.missing }, revision: 0 }),
    );
    await h.engine.settled();
    expect(await state.find(ptr(AdoptedKubeconfigType, 'later'))).toBeUndefined();
    const out = path.join(outputDir, 'later', 'kubeconfig');
    expect(await exists(out)).toBe(false);
    await writeFile(source, kubeconfig(), { mode: 0o600 });
    await eventuallyResource(state, ptr(AdoptedKubeconfigType, 'later'), (r) => expect(r?.spec.server).toBe('https://10.9.8.7:6443'));
    await eventually(fileChanges(outputDir), async () => expect(await exists(out)).toBe(true));
  });
});

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
