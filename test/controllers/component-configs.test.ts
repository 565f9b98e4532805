import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { componentConfigsController } from '../../src/controllers/index.js';
import {
  KUBE_PROXY_ID,
  KUBEPRISM_STATUS_ID,
  KubeletConfigType,
  KubePrismStatusType,
  KubeProxyKubeconfigType,
  StaticPodConfigType,
} from '../../src/resources/index.js';
import { Engine, kindOf, ptr } from '../../src/runtime/index.js';
import { v1alpha1Config } from '../harness/configs.js';
import { eventually, eventuallyList, eventuallyResource, fileChanges } from '../harness/eventually.js';
import { startChain, type ChainHarness } from './chain.js';

let h: ChainHarness;
afterEach(async () => h?.close());

const kubelet = ptr(KubeletConfigType, 'kubelet');
const kubeProxy = ptr(KubeProxyKubeconfigType, KUBE_PROXY_ID);
const status = ptr(KubePrismStatusType, KUBEPRISM_STATUS_ID);

/** Plays the balancer's part: its status is what the component controllers wait for. */
async function setListening(listening: boolean, port = 7445): Promise<void> {
  await h.state.modify(
    status,
    (d) => {
      d.spec = { host: `127.0.0.1:${port}`, healthy: listening, listening };
    },
    { owner: 'KubePrismController' },
  );
}

const serverOf = (check: (server: string | undefined) => void) => eventuallyResource(h.state, kubelet, (r) => check(r?.spec.server));

describe('ComponentConfigsController: one rule for every component', () => {
  it('points the kubelet at KubePrism only once it listens, stays there, and falls back at once when disabled', async () => {
    h = await startChain();
    await h.config.apply(v1alpha1Config({ machineType: 'worker' }), 'test');
    await serverOf((s) => expect(s).toBe('https://cp.example.com:6443'));
    await setListening(true);
    await serverOf((s) => expect(s).toBe('https://127.0.0.1:7445'));
    // A transient problem: the listener reports down. No flapping.
    await setListening(false);
    await h.engine.settled();
    expect((await h.state.get(kubelet)).spec.server).toBe('https://127.0.0.1:7445');
    await h.config.apply(v1alpha1Config({ machineType: 'worker', kubePrism: { enabled: false } }), 'test');
    await serverOf((s) => expect(s).toBe('https://cp.example.com:6443'));
    expect((await h.state.get(kubelet)).spec.kubeconfigPath).toBe(path.join(h.outputDir, 'kubelet', 'kubeconfig'));
  });

  it('waits for the listener on a new port before moving there', async () => {
    h = await startChain();
    await h.config.apply(v1alpha1Config({ machineType: 'worker' }), 'test');
    await setListening(true, 7445);
    await serverOf((s) => expect(s).toBe('https://127.0.0.1:7445'));
    await h.config.apply(v1alpha1Config({ machineType: 'worker', kubePrism: { enabled: true, port: 7500 } }), 'test');
    await serverOf((s) => expect(s).toBe('https://cp.example.com:6443'));
    await setListening(true, 7500);
    await serverOf((s) => expect(s).toBe('https://127.0.0.1:7500'));
  });

  it('uses the local API server as the fallback on control-plane nodes, and writes static pod configs there only', async () => {
    h = await startChain();
    await h.config.apply(v1alpha1Config({ machineType: 'controlplane', localAPIServerPort: 6444, kubePrism: { enabled: false } }), 'test');
    await serverOf((s) => expect(s).toBe('https://localhost:6444'));
    await eventuallyList(h.state, kindOf(StaticPodConfigType), (items) =>
      expect(items.map((i) => [i.metadata.id, i.spec.server])).toEqual([
        ['kube-controller-manager', 'https://localhost:6444'],
        ['kube-scheduler', 'https://localhost:6444'],
      ]),
    );
    await h.config.apply(
      `${v1alpha1Config({ machineType: 'controlplane', localAPIServerPort: 6444 })}\n---\napiVersion: v1alpha1\nkind: KubePrismConfig\nport: 7445\ntlsServerName: api.internal\n`,
      'test',
    );
    await setListening(true);
    await eventuallyList(h.state, kindOf(StaticPodConfigType), (items) =>
      expect(items.map((i) => [i.metadata.id, i.spec.server, i.spec.tlsServerName])).toEqual([
        ['kube-controller-manager', 'https://127.0.0.1:7445', 'api.internal'],
        ['kube-scheduler', 'https://127.0.0.1:7445', 'api.internal'],
      ]),
    );
    await h.config.apply(v1alpha1Config({ machineType: 'worker' }), 'test');
    await eventuallyList(h.state, kindOf(StaticPodConfigType), (items) => expect(items).toEqual([]));
  });

  it('writes kubeconfigs and the kube-proxy manifest atomically, only when their content changes', async () => {
    h = await startChain();
    await h.config.apply(v1alpha1Config({ machineType: 'controlplane', clusterName: 'prod' }), 'test');
    const file = (component: string) => path.join(h.outputDir, component, 'kubeconfig');
    const proxyFile = path.join(h.outputDir, 'kube-proxy', 'kubeconfig-in-cluster.yaml');
    const read = async (f: string) => parse(await readFile(f, 'utf8'));
    const changes = fileChanges(h.outputDir);
    await eventually(changes, async () => {
      for (const c of ['kubelet', 'kube-scheduler', 'kube-controller-manager']) {
        expect((await read(file(c))).clusters[0].cluster.server).toBe('https://localhost:6443');
      }
      expect(parse((await read(proxyFile)).data.kubeconfig).clusters[0].cluster.server).toBe('https://cp.example.com:6443');
    });
    const kubeletConfig = await read(file('kubelet'));
    expect(kubeletConfig).toMatchObject({
      kind: 'Config',
      'current-context': 'system:kubelet@prod',
      clusters: [{ name: 'prod', cluster: { 'certificate-authority': '/pki/ca.crt' } }],
      users: [{ name: 'system:kubelet', user: { 'client-certificate': '/var/lib/kubelet/pki/kubelet-client-current.pem' } }],
    });
    expect((await read(file('kube-scheduler'))).users[0].user['client-key']).toBe('/pki/kube-scheduler.key');
    expect(((await stat(file('kubelet'))).mode & 0o777).toString(8)).toBe('600');
    const proxy = await read(proxyFile);
    expect(proxy).toMatchObject({ kind: 'ConfigMap', metadata: { name: 'kubeconfig-in-cluster', namespace: 'kube-system' } });
    expect(parse(proxy.data.kubeconfig).clusters[0].cluster.server).toBe('https://cp.example.com:6443');

    const before = await stat(file('kubelet'));
    await setListening(true);
    await eventually(changes, async () => expect((await read(file('kubelet'))).clusters[0].cluster.server).toBe('https://127.0.0.1:7445'));
    await eventually(changes, async () =>
      expect(parse((await read(proxyFile)).data.kubeconfig).clusters[0].cluster.server).toBe('https://127.0.0.1:7445'),
    );
    const after = await stat(file('kubelet'));
    expect(after.ino).not.toBe(before.ino); // replaced by rename, never rewritten in place

    // A change that does not alter the content leaves the file alone.
    await setListening(false);
    await h.engine.settled();
    await h.state.modify(status, (d) => void (d.spec.healthy = true), { owner: 'KubePrismController' });
    await h.engine.settled();
    expect((await stat(file('kubelet'))).ino).toBe(after.ino);
  });

  it('gives kube-proxy a resource of its own: the cluster endpoint (control plane too), KubePrism once it listens, sticky', async () => {
    h = await startChain();
    await h.config.apply(v1alpha1Config({ machineType: 'controlplane' }), 'test');
    const proxyServer = (want: string) => eventuallyResource(h.state, kubeProxy, (r) => expect(r?.spec.server).toBe(want));
    await proxyServer('https://cp.example.com:6443');
    expect((await h.state.get(kubeProxy)).spec.kubeconfigPath).toBe(path.join(h.outputDir, 'kube-proxy', 'kubeconfig-in-cluster.yaml'));
    await setListening(true);
    await proxyServer('https://127.0.0.1:7445');
    await setListening(false);
    await h.engine.settled();
    expect((await h.state.get(kubeProxy)).spec.server).toBe('https://127.0.0.1:7445');
    await h.config.apply(v1alpha1Config({ machineType: 'controlplane', kubePrism: { enabled: false } }), 'test');
    await proxyServer('https://cp.example.com:6443');
  });

  it('keeps its stickiness in its outputs, so a restarted controller does not flap either', async () => {
    h = await startChain();
    await h.config.apply(v1alpha1Config({ machineType: 'worker' }), 'test');
    await setListening(true);
    await serverOf((s) => expect(s).toBe('https://127.0.0.1:7445'));
    await eventuallyResource(h.state, kubeProxy, (r) => expect(r?.spec.server).toBe('https://127.0.0.1:7445'));
    await h.engine.stop();
    // The listener looks down while the controller is away; a fresh controller must not move anyone off KubePrism.
    await setListening(false);
    const engine = new Engine(h.state);
    engine.register(componentConfigsController({ outputDir: h.outputDir }));
    engine.start();
    try {
      await h.config.apply(v1alpha1Config({ machineType: 'worker', clusterName: 'renamed' }), 'test');
      await engine.settled();
      expect((await h.state.get(kubelet)).spec.server).toBe('https://127.0.0.1:7445');
      expect((await h.state.get(kubeProxy)).spec.server).toBe('https://127.0.0.1:7445');
    } finally {
      await engine.stop();
    }
  });
});

describe('KubeconfigFilesController: renders resources, decides nothing', () => {
  it('writes what the resource says, and removes the files of components that are gone', async () => {
    h = await startChain((c) => c.filter((x) => x.name === 'KubeconfigFilesController'));
    await h.config.apply(v1alpha1Config({ machineType: 'controlplane' }), 'test');
    const changes = fileChanges(h.outputDir);
    const schedulerFile = path.join(h.outputDir, 'kube-scheduler', 'kubeconfig');
    const proxyFile = path.join(h.outputDir, 'kube-proxy', 'kubeconfig-in-cluster.yaml');
    const owner = { owner: 'ComponentConfigsController' };
    // Servers no rule would choose: the writer must take them as they are.
    await h.state.modify(
      ptr(StaticPodConfigType, 'kube-scheduler'),
      (d) => void (d.spec = { server: 'https://odd.example:1', kubeconfigPath: schedulerFile }),
      owner,
    );
    await h.state.modify(
      kubeProxy,
      (d) => void (d.spec = { server: 'https://odd.example:2', tlsServerName: 'odd', kubeconfigPath: proxyFile }),
      owner,
    );
    await eventually(changes, async () => {
      expect(parse(await readFile(schedulerFile, 'utf8')).clusters[0].cluster.server).toBe('https://odd.example:1');
      const proxyKubeconfig = parse(parse(await readFile(proxyFile, 'utf8')).data.kubeconfig);
      expect(proxyKubeconfig.clusters[0].cluster).toMatchObject({ server: 'https://odd.example:2', 'tls-server-name': 'odd' });
    });
    expect(((await stat(proxyFile)).mode & 0o777).toString(8)).toBe('644'); // no secret in it
    await h.state.teardownAndDestroy(ptr(StaticPodConfigType, 'kube-scheduler'), owner);
    await eventually(changes, async () => expect(await exists(schedulerFile)).toBe(false));
    expect(await exists(proxyFile)).toBe(true);
  });

  it("removes the static pods' kubeconfigs when a control-plane node turns worker", async () => {
    h = await startChain();
    await h.config.apply(v1alpha1Config({ machineType: 'controlplane' }), 'test');
    const changes = fileChanges(h.outputDir);
    const file = (c: string) => path.join(h.outputDir, c, 'kubeconfig');
    await eventually(changes, async () => {
      for (const c of ['kubelet', 'kube-scheduler', 'kube-controller-manager']) expect(await exists(file(c))).toBe(true);
    });
    await h.config.apply(v1alpha1Config({ machineType: 'worker' }), 'test');
    await eventually(changes, async () => {
      expect(await exists(file('kube-scheduler'))).toBe(false);
      expect(await exists(file('kube-controller-manager'))).toBe(false);
      expect(parse(await readFile(file('kubelet'), 'utf8')).clusters[0].cluster.server).toBe('https://cp.example.com:6443');
    });
  });
});

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
