import { describe, expect, it } from 'vitest';
import { createState, namesOf, redacted } from '../../src/runtime/index.js';
import {
  KUBEPRISM_TYPES,
  KubePrismStatusType,
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
    const res = { metadata: {} as never, spec: { documents: [doc] } };
    expect(JSON.stringify(redacted(MachineConfigType, res))).not.toContain('abcdef.0123456789abcdef');
  });
});
