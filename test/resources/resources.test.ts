import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseMachineConfig } from '../../src/config/index.js';
import { BALANCER_DEFAULTS } from '../../src/loadbalancer/settings.js';
import { createState, namesOf, redacted } from '../../src/runtime/index.js';
import {
  KUBEPRISM_TYPES,
  KubePrismConfigType,
  KubePrismStatusType,
  KubeProxyKubeconfigType,
  MachineConfigType,
  registerKubeprismTypes,
  redactSecrets,
  upstreamId,
} from '../../src/resources/index.js';

describe('kubeprism resource catalogue', () => {
  it('registers every type, and every name resolves to exactly one type', async () => {
    const state = await createState();
    await registerKubeprismTypes(state);
    for (const def of KUBEPRISM_TYPES) {
      for (const name of namesOf(def)) expect(state.registry.resolve(name)).toBe(def);
    }
    expect(state.registry.resolve('kps')).toBe(KubePrismStatusType);
    expect(state.registry.resolve('mc')).toBe(MachineConfigType);
    expect(state.registry.namespaces()).toEqual(['cluster', 'config', 'k8s', 'meta', 'runtime']);
  });

  it('brackets IPv6 hosts in upstream ids', () => {
    expect(upstreamId('10.0.0.1', 6443)).toBe('10.0.0.1:6443');
    expect(upstreamId('2001:db8::1', 6443)).toBe('[2001:db8::1]:6443');
    expect(upstreamId('localhost', 6443)).toBe('localhost:6443');
  });

  it('redacts keys, tokens, certificates and secrets in machine configs, keeping the rest', () => {
    const doc = {
      version: 'v1alpha1',
      machine: {
        type: 'controlplane',
        token: 'abcdef.0123456789abcdef',
        ca: { crt: 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t', key: 'LS0tLS1CRUdJTiBFRDI1NTE5' },
        features: { kubePrism: { enabled: true, port: 7445 } },
      },
      cluster: {
        secretboxEncryptionSecret: 'z01mye6j16bspJYtTB/5SFX8j7Ahm2r5xvDxkMJh6Sw=',
        controlPlane: { endpoint: 'https://cp.example:6443' },
        inlineManifests: [{ name: 'x', contents: '-----BEGIN PRIVATE KEY-----\n...' }],
        serviceAccount: { key: 'x' },
      },
    };
    expect(redactSecrets(doc)).toEqual({
      version: 'v1alpha1',
      machine: {
        type: 'controlplane',
        token: '(redacted)',
        ca: { crt: '(redacted)', key: '(redacted)' },
        features: { kubePrism: { enabled: true, port: 7445 } },
      },
      cluster: {
        secretboxEncryptionSecret: '(redacted)',
        controlPlane: { endpoint: 'https://cp.example:6443' },
        inlineManifests: [{ name: 'x', contents: '(redacted)' }],
        serviceAccount: { key: '(redacted)' },
      },
    });
    const { view } = parseMachineConfig(stringify(doc));
    const res = { metadata: {} as never, spec: { documents: [doc], view } };
    const shown = redacted(MachineConfigType, res);
    expect(JSON.stringify(shown)).not.toContain('abcdef.0123456789abcdef');
    // The interpreted view holds no secret and is shown as it is.
    expect(shown).toMatchObject({ spec: { view } });
  });

  it("answers to kube-proxy's own type, whose abbreviation clashes with no other", async () => {
    const state = await createState();
    await registerKubeprismTypes(state);
    expect(state.registry.resolve('kpk')).toBe(KubeProxyKubeconfigType);
    expect(state.registry.resolve('kpc')).toBe(KubePrismConfigType);
  });

  it('KubePrismConfig spec takes every balancer setting, defaults included, and refuses unknown ones', () => {
    const spec = { host: '127.0.0.1', port: 7445, listenAddresses: ['127.0.0.1'], ...BALANCER_DEFAULTS };
    expect(KubePrismConfigType.schema.parse(spec)).toEqual(spec);
    expect(KubePrismConfigType.schema.safeParse({ ...spec, maxConnections: 0 }).success).toBe(false);
    expect(KubePrismConfigType.schema.safeParse({ ...spec, surprise: 1 }).success).toBe(false);
  });
});
