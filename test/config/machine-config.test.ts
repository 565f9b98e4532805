import { describe, expect, it } from 'vitest';
import { machineConfigView, parseMachineConfig, parseMachineConfigDocuments } from '../../src/config/machine-config.js';
import { KUBEPRISM_DEFAULTS, machineConfigViewSchema } from '../../src/config/schemas.js';
import { fixture, invalid } from './helpers.js';

const DEFAULT_HEALTH = { mode: 'readyz', intervalMs: 5000, timeoutMs: 2000, jitter: 0.2 };

describe('parseMachineConfig: classic v1alpha1 document', () => {
  it('reads a control-plane config', () => {
    const { documents, view } = parseMachineConfig(fixture('v1alpha1-controlplane.yaml'));
    expect(documents).toHaveLength(1);
    expect(view).toEqual({
      machineType: 'controlplane',
      clusterName: 'prod-eu',
      clusterEndpoint: { url: 'https://cluster.example.com:6443', host: 'cluster.example.com', port: 6443 },
      localAPIServerPort: 6443,
      kubePrism: { ...KUBEPRISM_DEFAULTS, healthCheck: DEFAULT_HEALTH },
      // cluster.discovery.enabled with no registries listed: Talos's rule turns the kubernetes registry on.
      kubernetesDiscovery: { removalDelayMs: 30_000 },
    });
    expect(machineConfigViewSchema.parse(view)).toEqual(view);
  });

  it('keeps every document untouched, fields kubeprism does not read included', () => {
    const { documents } = parseMachineConfig(fixture('v1alpha1-controlplane.yaml'));
    expect(documents[0]).toMatchObject({
      debug: false,
      machine: { token: '7ws3zq.0f4bq1q2n3xyz8lk', install: { disk: '/dev/sda', wipe: false } },
      cluster: { network: { podSubnets: ['10.244.0.0/16'] }, discovery: { enabled: true } },
    });
  });

  it('turns KubePrism on at 7445 when the config says nothing about it; no port means 443', () => {
    const { view } = parseMachineConfig(fixture('v1alpha1-worker-defaults.yaml'));
    expect(view.machineType).toBe('worker');
    expect(view.kubePrism).toEqual({ ...KUBEPRISM_DEFAULTS, healthCheck: DEFAULT_HEALTH });
    expect(view.clusterEndpoint).toEqual({ url: 'https://k8s.internal.example.net', host: 'k8s.internal.example.net', port: 443 });
  });

  it('turns KubePrism off with enabled: false', () => {
    const { view } = parseMachineConfig(fixture('v1alpha1-disabled.yaml'));
    expect(view.kubePrism.enabled).toBe(false);
    expect(view.kubePrism.port).toBe(7445);
  });

  it('reads the agent settings next to the port, and init as controlplane', () => {
    const { view } = parseMachineConfig(fixture('v1alpha1-agent-settings.yaml'));
    expect(view).toEqual({
      machineType: 'controlplane',
      clusterName: 'tuned',
      clusterEndpoint: { url: 'https://cp.example.org:8443', host: 'cp.example.org', port: 8443 },
      localAPIServerPort: 6444,
      kubePrism: {
        ...KUBEPRISM_DEFAULTS,
        enabled: true,
        port: 7500,
        healthCheck: { mode: 'tcp', intervalMs: 90_000, timeoutMs: 500, jitter: 0.1 },
        firstByteTimeoutMs: 3000,
        listenIPv6: true,
        closeConnectionsOnDown: false,
        maxConnections: 1024,
      },
    });
  });

  it('unbrackets an IPv6 endpoint host', () => {
    const { view } = parseMachineConfig(fixture('v1alpha1-ipv6-endpoint.yaml'));
    expect(view.clusterEndpoint).toEqual({ url: 'https://[2001:db8:10::1]:6443', host: '2001:db8:10::1', port: 6443 });
    expect(view.kubePrism.enabled).toBe(true);
  });

  it('expands aliases into independent plain data', () => {
    const text = `${fixture('base-for-patch.yaml')}    extra:\n        a: &x {b: 1}\n        c: *x\n`;
    const doc = parseMachineConfig(text).documents[0] as { cluster: { extra: { a: object; c: object } } };
    expect(doc.cluster.extra.a).toEqual({ b: 1 });
    expect(doc.cluster.extra.c).toEqual({ b: 1 });
    expect(doc.cluster.extra.c).not.toBe(doc.cluster.extra.a);
  });

  it('keeps a `__proto__` key as a plain key, never as a prototype', () => {
    const text = fixture('base-for-patch.yaml').replace('    type: worker', '    __proto__: {type: controlplane}\n    type: worker');
    const { documents, view } = parseMachineConfig(text);
    expect(view.machineType).toBe('worker');
    const machine = (documents[0] as { machine: object }).machine;
    expect(Object.getPrototypeOf(machine)).toBe(Object.prototype);
    expect(Object.hasOwn(machine, '__proto__')).toBe(true);
  });

  it('reads `key: ~` like a missing key, as Go does', () => {
    const text = fixture('v1alpha1-worker-defaults.yaml').replace('    network:', '    features:\n        kubePrism: ~\n    network:');
    expect(parseMachineConfig(text).view.kubePrism.enabled).toBe(true);
  });
});

describe('parseMachineConfig: several documents', () => {
  it('reads a classic document followed by kinds it does not look into', () => {
    const { documents, view } = parseMachineConfig(fixture('multidoc-classic-plus-kinds.yaml'));
    expect(documents.map((d) => (d as { kind?: string }).kind)).toEqual([undefined, 'HostnameConfig', 'RegistryMirrorConfig']);
    expect(view).toMatchObject({ machineType: 'worker', clusterName: 'home', clusterEndpoint: { host: '192.168.1.10' } });
  });

  it('reads the Talos 1.15 documents: KubeClusterConfig, KubeAPIServerConfig, KubePrismConfig', () => {
    const { documents, view } = parseMachineConfig(fixture('multidoc-1.15-controlplane.yaml'));
    expect(documents).toHaveLength(6);
    expect(view).toEqual({
      machineType: 'controlplane',
      clusterName: 'edge',
      clusterEndpoint: { url: 'https://edge-api.example.com:443', host: 'edge-api.example.com', port: 443 },
      localAPIServerPort: 5443,
      kubePrism: {
        ...KUBEPRISM_DEFAULTS,
        enabled: true,
        port: 7445,
        tlsServerName: 'edge-api.example.com',
        healthCheck: { mode: 'tls', intervalMs: 2000, timeoutMs: 1000, jitter: 0 },
        maxConnections: 4096,
      },
    });
  });

  it('turns KubePrism off in the 1.15 form with machine.features.kubePrism.enabled: false', () => {
    const { view } = parseMachineConfig(fixture('multidoc-1.15-disabled.yaml'));
    expect(view.kubePrism.enabled).toBe(false);
    expect(view.clusterEndpoint).toEqual({ url: 'https://10.20.0.5', host: '10.20.0.5', port: 443 });
    expect(view.localAPIServerPort).toBe(6443);
  });

  it('a KubePrismConfig document enables KubePrism with its settings', () => {
    const patch = 'apiVersion: v1alpha1\nkind: KubePrismConfig\nport: 7446\n';
    const { view } = parseMachineConfig(`${fixture('base-for-patch.yaml')}---\n${patch}`);
    expect(view.kubePrism).toMatchObject({ enabled: true, port: 7446 });
  });

  it('drops empty documents (a stray ---) instead of counting them', () => {
    const text = `---\n${fixture('base-for-patch.yaml')}---\n---\n# nothing\n`;
    expect(parseMachineConfig(text).documents).toHaveLength(1);
  });
});

describe('machineConfigView', () => {
  it('gives the same view from stored documents as from the text', () => {
    for (const name of ['v1alpha1-controlplane.yaml', 'multidoc-1.15-controlplane.yaml', 'v1alpha1-agent-settings.yaml']) {
      const parsed = parseMachineConfig(fixture(name));
      expect(machineConfigView(JSON.parse(JSON.stringify(parsed.documents)) as unknown[])).toEqual(parsed.view);
    }
  });

  it('throws the same error type, naming documents by position, without line numbers', () => {
    const documents = parseMachineConfigDocuments(fixture('invalid/duplicate-kubeprism.yaml'));
    const err = invalid(() => machineConfigView(documents));
    expect(err.issues).toEqual([
      {
        path: 'machine.features.kubePrism',
        message:
          'document 1 (v1alpha1): KubePrism is also configured by the KubePrismConfig document (document 2); configure it in one place only',
      },
    ]);
  });

  it('refuses an empty document list', () => {
    expect(invalid(() => machineConfigView([])).issues).toEqual([
      { path: '', message: 'no documents: expected a Talos machine config (version: v1alpha1)' },
    ]);
  });
});
