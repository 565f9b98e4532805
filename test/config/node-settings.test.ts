import { describe, expect, it } from 'vitest';
import { parseMachineConfig } from '../../src/config/machine-config.js';
import { parseListenAddress } from '../../src/config/node-settings.js';
import { invalid } from './helpers.js';

// The node's settings next to the KubePrism port, in either form: adoptKubeconfigs and metricsAddress,
// read as strictly as the balancer's.

const HEAD = 'version: v1alpha1\nmachine:\n  type: worker\n  features:\n    kubePrism:\n';
const TAIL = 'cluster:\n  controlPlane:\n    endpoint: https://cp.example.org:6443\n';
const v1 = (...lines: string[]): string => `${HEAD}${lines.map((l) => `      ${l}\n`).join('')}${TAIL}`;
const doc = (...lines: string[]): string =>
  `version: v1alpha1\nmachine:\n  type: worker\n${TAIL}---\napiVersion: v1alpha1\nkind: KubePrismConfig\n${lines.map((l) => `${l}\n`).join('')}`;
const issuesOf = (text: string, adoptedByFlag?: Map<string, string>) =>
  invalid(() => parseMachineConfig(text, adoptedByFlag ? { adoptedByFlag } : {})).issues.map((i) => [i.path, i.message]);
const BASE = 'machine.features.kubePrism';

describe('adoptKubeconfigs', () => {
  it('reads the list in both forms into the view (paths only)', () => {
    const list = [
      'adoptKubeconfigs:',
      '  - {name: kubelet, path: /etc/kubernetes/kubelet.conf}',
      '  - name: kube-proxy',
      '    path: /var/lib/rancher/k3s/agent/kubeproxy.kubeconfig',
    ];
    const want = [
      { name: 'kubelet', path: '/etc/kubernetes/kubelet.conf' },
      { name: 'kube-proxy', path: '/var/lib/rancher/k3s/agent/kubeproxy.kubeconfig' },
    ];
    expect(parseMachineConfig(v1(...list)).view.adoptKubeconfigs).toEqual(want);
    expect(parseMachineConfig(doc(...list)).view.adoptKubeconfigs).toEqual(want);
    expect(parseMachineConfig(v1('port: 7445')).view.adoptKubeconfigs).toBeUndefined();
  });

  it('names every mistake with its path: unknown keys (closest known one), missing or bad fields, a name twice', () => {
    expect(
      issuesOf(
        v1(
          'adoptKubeconfigs:',
          '  - {nmae: kubelet, path: /a}',
          '  - {name: ../up, path: relative/b}',
          '  - {name: x, path: /c}',
          '  - {name: x, path: /d}',
          '  - 7',
        ),
      ).map(([p, m]) => [p, m?.replace(/ \(line.*$/u, '')]),
    ).toEqual([
      [`${BASE}.adoptKubeconfigs.0.name`, 'required: the component, e.g. kubelet (its output directory)'],
      [`${BASE}.adoptKubeconfigs.0.nmae`, 'unknown setting; did you mean name?'],
      [
        `${BASE}.adoptKubeconfigs.1.name`,
        'must be letters, digits, ".", "_" or "-", starting with a letter or digit (it names a directory) (got "../up")',
      ],
      [`${BASE}.adoptKubeconfigs.1.path`, 'must be an absolute file path such as "/etc/kubernetes/kubelet.conf" (got "relative/b")'],
      [`${BASE}.adoptKubeconfigs.3.name`, 'x is adopted twice: also by item 2 of this list'],
      [`${BASE}.adoptKubeconfigs.4`, 'must be a mapping with name and path (got 7)'],
    ]);
    expect(issuesOf(doc('adoptKubeconfigs: {name: kubelet}'))).toEqual([
      ['adoptKubeconfigs', 'document 2 (KubePrismConfig): must be a list of {name, path} (got a mapping) (line 10, column 19)'],
    ]);
    expect(issuesOf(v1('adoptKubeconfig: []'))[0]?.[1]).toMatch(/^unknown setting; did you mean adoptKubeconfigs\?/u);
  });

  it('refuses a name the command line adopts too, naming both', () => {
    const flags = new Map([['kubelet', '/etc/kubernetes/kubelet.conf']]);
    expect(issuesOf(v1('adoptKubeconfigs: [{name: kubelet, path: /other/kubelet.conf}]'), flags)).toEqual([
      [
        `${BASE}.adoptKubeconfigs.0.name`,
        'kubelet is also adopted by --adopt-kubeconfig kubelet=/etc/kubernetes/kubelet.conf; adopt it in one place only (line 6, column 33)',
      ],
    ]);
    // Without the command line (kubeprism validate), the same config is fine.
    expect(parseMachineConfig(v1('adoptKubeconfigs: [{name: kubelet, path: /other/kubelet.conf}]')).view.adoptKubeconfigs).toHaveLength(1);
  });
});

describe('metricsAddress', () => {
  it('takes an IP and port, IPv6 bracketed, in both forms', () => {
    expect(parseMachineConfig(v1('metricsAddress: 0.0.0.0:9445')).view.metricsAddress).toBe('0.0.0.0:9445');
    expect(parseMachineConfig(doc('metricsAddress: "[::]:9445"')).view.metricsAddress).toBe('[::]:9445');
    expect(parseMachineConfig(v1('port: 7445')).view.metricsAddress).toBeUndefined();
  });

  it.each(['node1:9445', '0.0.0.0', '0.0.0.0:0', '0.0.0.0:70000', '[0.0.0.0]:9445', '::1:9445', 'unix:/run/m.sock'])(
    'refuses %s',
    (value) => {
      expect(parseListenAddress(value)).toBeUndefined();
      expect(issuesOf(v1(`metricsAddress: "${value}"`))).toEqual([
        [
          `${BASE}.metricsAddress`,
          expect.stringMatching(
            /^must be an IP address and port such as "0\.0\.0\.0:9445" or "\[::\]:9445" \(got .*\); names are not resolved/u,
          ),
        ],
      ]);
    },
  );

  it('parses what it accepts', () => {
    expect(parseListenAddress('localhost:9445')).toEqual({ host: '127.0.0.1', port: 9445 });
    expect(parseListenAddress('[fd00::1]:1')).toEqual({ host: 'fd00::1', port: 1 });
    expect(parseListenAddress('10.0.0.1:65535')).toEqual({ host: '10.0.0.1', port: 65535 });
  });
});
