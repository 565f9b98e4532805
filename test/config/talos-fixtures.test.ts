import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { machineConfigView, parseMachineConfig, parseMachineConfigDocuments } from '../../src/config/machine-config.js';
import { fixture, talosFixtures } from './helpers.js';

// Real configs produced by Talos's own tooling (1.6, 1.13, 1.15), read where they live; never copied here.
const present = existsSync(talosFixtures);
const read = (name: string): string => readFileSync(path.join(talosFixtures, name), 'utf8');

/** What each full machine config must yield. 1.6/1.13 use machine.features.kubePrism; 1.15 separate documents. */
const expected: Record<string, { machineType: string; apiPort: number; clusterName?: string; documents: number }> = {
  'v1.6-base-controlplane.yaml': { machineType: 'controlplane', apiPort: 6443, clusterName: 'base', documents: 1 },
  'v1.6-base-worker.yaml': { machineType: 'worker', apiPort: 6443, documents: 1 },
  'v1.6-overrides-controlplane.yaml': { machineType: 'controlplane', apiPort: 5443, clusterName: 'base', documents: 1 },
  'v1.6-overrides-worker.yaml': { machineType: 'worker', apiPort: 6443, documents: 1 },
  'v1.13-base-controlplane.yaml': { machineType: 'controlplane', apiPort: 6443, clusterName: 'base', documents: 2 },
  'v1.13-base-worker.yaml': { machineType: 'worker', apiPort: 6443, clusterName: 'base', documents: 2 },
  'v1.13-overrides-controlplane.yaml': { machineType: 'controlplane', apiPort: 5443, clusterName: 'base', documents: 3 },
  'v1.13-overrides-worker.yaml': { machineType: 'worker', apiPort: 6443, clusterName: 'base', documents: 3 },
  'v1.15-base-controlplane.yaml': { machineType: 'controlplane', apiPort: 6443, clusterName: 'base', documents: 28 },
  'v1.15-base-worker.yaml': { machineType: 'worker', apiPort: 6443, clusterName: 'base', documents: 14 },
  'v1.15-overrides-controlplane.yaml': { machineType: 'controlplane', apiPort: 5443, clusterName: 'base', documents: 31 },
  'v1.15-overrides-worker.yaml': { machineType: 'worker', apiPort: 6443, clusterName: 'base', documents: 17 },
};

/** A lone KubePrismConfig document: a fragment meant to be appended to a machine config, not one by itself. */
const FRAGMENT = 'kubeprismconfig-document.yaml';

describe.skipIf(!present)(`Talos fixtures in ${talosFixtures}`, () => {
  it('has a known expectation for every YAML file there (so a new file is not silently ignored)', () => {
    const files = readdirSync(talosFixtures).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'));
    expect(files.sort()).toEqual([...Object.keys(expected), FRAGMENT].sort());
  });

  it.each(Object.entries(expected))('%s parses with the right values', (name, want) => {
    const config = parseMachineConfig(read(name));
    expect(config.documents).toHaveLength(want.documents);
    expect(config.view).toMatchObject({
      machineType: want.machineType,
      clusterEndpoint: { url: 'https://base:6443', host: 'base', port: 6443 },
      localAPIServerPort: want.apiPort,
      kubePrism: { enabled: true, port: 7445 },
    });
    expect(config.view.clusterName).toBe(want.clusterName);
    expect(config.view.kubePrism.tlsServerName).toBeUndefined();
    // The stored documents validate the same way the text did.
    expect(machineConfigView(structuredClone(config.documents))).toEqual(config.view);
  });

  it('1.15 configs carry KubePrism in a KubePrismConfig document, not machine.features', () => {
    const { documents } = parseMachineConfig(read('v1.15-base-worker.yaml'));
    expect(documents).toContainEqual({ apiVersion: 'v1alpha1', kind: 'KubePrismConfig', port: 7445 });
  });

  it(`${FRAGMENT} parses, and appended to a machine config enables KubePrism with its settings`, () => {
    const fragment = parseMachineConfigDocuments(read(FRAGMENT));
    expect(fragment).toEqual([{ apiVersion: 'v1alpha1', kind: 'KubePrismConfig', port: 7445, tlsServerName: 'api.cluster.local' }]);
    const view = machineConfigView([...parseMachineConfigDocuments(fixture('base-for-patch.yaml')), ...fragment]);
    expect(view.kubePrism).toMatchObject({ enabled: true, port: 7445, tlsServerName: 'api.cluster.local' });
    expect(view.machineType).toBe('worker');
  });

  it(`${FRAGMENT} alone is not a machine config: it says what is missing`, () => {
    expect(() => parseMachineConfig(read(FRAGMENT))).toThrow(/no v1alpha1 document/);
  });
});

if (!present) {
  // Say so in the output rather than pass silently with nothing checked.
  describe('Talos fixtures', () => {
    it.skip(`skipped: ${talosFixtures} does not exist in this checkout`, () => {});
  });
}
