import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseMachineConfig } from '../../src/config/machine-config.js';
import { fixture, invalid, talosFixtures } from './helpers.js';

// The source is on only under Talos's rule (cluster.discovery.enabled and the kubernetes registry not
// disabled); its settings (kubeconfig, removalDelay) sit next to the KubePrism port in either form, are
// checked with exact paths even while the switch is off, and default to no credentials and 30 s.

const base = (cluster: string, prism = ''): string =>
  `version: v1alpha1\nmachine:\n  type: worker\n  features:\n    kubePrism:\n      enabled: true\n${prism}cluster:\n  controlPlane:\n    endpoint: https://cp.example.org:6443\n${cluster}`;
const on = '  discovery:\n    enabled: true\n';

describe('machine config: Kubernetes discovery', () => {
  it('is off when the config says nothing, and under every form of Talos switch that says no', () => {
    expect(parseMachineConfig(base('')).view.kubernetesDiscovery).toBeUndefined();
    for (const discovery of [
      '  discovery:\n    enabled: false\n',
      '  discovery:\n    registries:\n      kubernetes: {}\n',
      '  discovery:\n    enabled: true\n    registries:\n      kubernetes:\n        disabled: true\n',
      '  discovery: ~\n',
    ]) {
      expect(parseMachineConfig(base(discovery)).view.kubernetesDiscovery, discovery).toBeUndefined();
    }
  });

  it('is on with cluster.discovery.enabled (no registries listed means the kubernetes one too): no credentials, 30 s', () => {
    expect(parseMachineConfig(base(on)).view.kubernetesDiscovery).toEqual({ removalDelayMs: 30_000 });
  });

  it('reads the kubeconfig and removal delay next to the port (v1alpha1 form)', () => {
    const { view } = parseMachineConfig(fixture('v1alpha1-kubernetes-discovery.yaml'));
    expect(view.kubernetesDiscovery).toEqual({ kubeconfig: '/etc/kubernetes/kubelet.conf', removalDelayMs: 60_000 });
    expect(view.kubePrism).toMatchObject({ enabled: true, port: 7445 }); // the block stays a KubePrism block
  });

  it('reads them from a KubePrismConfig document (Talos 1.15 form); 0s removes at once', () => {
    const text = `${base(on).replace('    kubePrism:\n      enabled: true\n', '')}---\napiVersion: v1alpha1\nkind: KubePrismConfig\nport: 7446\nkubernetesDiscovery:\n  kubeconfig: /var/lib/kubelet/kubeconfig\n  removalDelay: "0"\n`;
    expect(parseMachineConfig(text).view.kubernetesDiscovery).toEqual({ kubeconfig: '/var/lib/kubelet/kubeconfig', removalDelayMs: 0 });
  });

  it('refuses bad settings with their exact paths, even while the switch is off', () => {
    const prism = (block: string): string => `      kubernetesDiscovery:\n${block}`;
    const at = 'machine.features.kubePrism.kubernetesDiscovery';
    const cases: Array<[string, string, string, RegExp]> = [
      [
        'relative kubeconfig',
        '',
        prism('        kubeconfig: kubelet.conf\n'),
        /must be an absolute file path such as "\/etc\/kubernetes\/kubelet.conf" \(got "kubelet.conf"\) \(line 8, column 21\)/,
      ],
      ['delay too long', on, prism('        removalDelay: 2h\n'), /^must be at most 1h \(got "2h"\)/],
      [
        'delay without unit',
        '',
        prism('        removalDelay: 30\n'),
        /^must be a duration with a unit, such as "5s" \(got 30\); write "30s" or "30ms"/,
      ],
      ['not a mapping', on, '      kubernetesDiscovery: yes\n', /must be a mapping of fields \(got "yes"\)/],
    ];
    for (const [name, cluster, block, message] of cases) {
      const err = invalid(() => parseMachineConfig(base(cluster, block)));
      const field = name === 'relative kubeconfig' ? `${at}.kubeconfig` : name === 'not a mapping' ? at : `${at}.removalDelay`;
      expect(
        err.issues.map((i) => i.path),
        name,
      ).toEqual([field]);
      expect(err.issues[0]?.message, name).toMatch(message);
    }
  });

  it('refuses a switch that is not a boolean, with its path', () => {
    const err = invalid(() =>
      parseMachineConfig(base('  discovery:\n    enabled: "yes"\n    registries:\n      kubernetes:\n        disabled: 1\n')),
    );
    expect(err.issues.map((i) => [i.path, i.message.replace(/ \(line.*$/, '')])).toEqual([
      ['cluster.discovery.enabled', 'must be true or false (got "yes")'],
      ['cluster.discovery.registries.kubernetes.disabled', 'must be true or false (got 1)'],
    ]);
  });

  it('names the document when the settings live in a KubePrismConfig document', () => {
    const text = `${base(on).replace('    kubePrism:\n      enabled: true\n', '')}---\napiVersion: v1alpha1\nkind: KubePrismConfig\nkubernetesDiscovery:\n  kubeconfig: ./kubeconfig\n`;
    const err = invalid(() => parseMachineConfig(text));
    expect(err.issues).toEqual([
      {
        path: 'kubernetesDiscovery.kubeconfig',
        message: expect.stringMatching(/^document 2 \(KubePrismConfig\): must be an absolute file path/),
      },
    ]);
  });

  it.skipIf(!existsSync(talosFixtures))(
    'stays off for every real Talos config (they disable the kubernetes registry or say nothing)',
    () => {
      const files = readdirSync(talosFixtures).filter((f) => f.endsWith('.yaml') && f.startsWith('v'));
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) {
        expect(parseMachineConfig(readFileSync(path.join(talosFixtures, file), 'utf8')).view.kubernetesDiscovery, file).toBeUndefined();
      }
    },
  );
});
