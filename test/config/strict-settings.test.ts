import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { formatDuration } from '../../src/config/duration.js';
import { kubePrismConfigDocumentSchema, v1alpha1KubePrismSchema } from '../../src/config/kubeprism-settings.js';
import { parseMachineConfig } from '../../src/config/machine-config.js';
import { KUBEPRISM_DEFAULTS } from '../../src/config/schemas.js';
import { settingLeaves } from '../../src/config/setting-forms.js';
import { closestWord, editDistance } from '../../src/config/suggest.js';
import { invalid, repoRoot } from './helpers.js';

// kubeprism's own settings (next to the KubePrism port, in either form) are read strictly: an unknown
// key is an error naming its path, its line and the closest known key; a quoted number is not a number.
// Everything else in a Talos config stays accepted and untouched.

const HEAD = 'version: v1alpha1\nmachine:\n  type: worker\n  features:\n    kubePrism:\n';
const TAIL = 'cluster:\n  controlPlane:\n    endpoint: https://cp.example.org:6443\n';
/** A worker config whose `machine.features.kubePrism` block holds `lines` (indented 6). */
const v1 = (...lines: string[]): string => `${HEAD}${lines.map((l) => `      ${l}\n`).join('')}${TAIL}`;
/** A worker config plus a KubePrismConfig document holding `lines`. */
const doc = (...lines: string[]): string =>
  `version: v1alpha1\nmachine:\n  type: worker\n${TAIL}---\napiVersion: v1alpha1\nkind: KubePrismConfig\n${lines.map((l) => `${l}\n`).join('')}`;

const issuesOf = (text: string) => invalid(() => parseMachineConfig(text)).issues;
const BASE = 'machine.features.kubePrism';

describe('kubeprism settings: unknown keys', () => {
  it('names the path, the key (its line and column) and the closest known key (v1alpha1 form)', () => {
    expect(issuesOf(v1('port: 7445', 'healthcheck:', '  interval: 5s'))).toEqual([
      { path: `${BASE}.healthcheck`, message: 'unknown setting; did you mean healthCheck? (line 7, column 7)' },
    ]);
    expect(issuesOf(v1('maxConnection: 10', 'healthCheck:', '  intervall: 10s', '  timout: 1s'))).toEqual([
      { path: `${BASE}.maxConnection`, message: 'unknown setting; did you mean maxConnections? (line 6, column 7)' },
      { path: `${BASE}.healthCheck.intervall`, message: 'unknown setting; did you mean interval? (line 8, column 9)' },
      { path: `${BASE}.healthCheck.timout`, message: 'unknown setting; did you mean timeout? (line 9, column 9)' },
    ]);
  });

  it('does the same in a KubePrismConfig document, nested blocks included', () => {
    expect(issuesOf(doc('port: 7445', 'healthCheck: {mode: tcp, jiter: 0.1}', 'kubernetesDiscovery:', '  removaldelay: 1m'))).toEqual([
      { path: 'healthCheck.jiter', message: 'document 2 (KubePrismConfig): unknown setting; did you mean jitter? (line 11, column 26)' },
      {
        path: 'kubernetesDiscovery.removaldelay',
        message: 'document 2 (KubePrismConfig): unknown setting; did you mean removalDelay? (line 13, column 3)',
      },
    ]);
  });

  it('checks kubernetesDiscovery strictly in the v1alpha1 form too', () => {
    expect(issuesOf(v1('kubernetesDiscovery:', '  kubeConfig: /etc/k.conf'))).toEqual([
      { path: `${BASE}.kubernetesDiscovery.kubeConfig`, message: 'unknown setting; did you mean kubeconfig? (line 7, column 9)' },
    ]);
  });

  it('points a setting written in the wrong block at where it belongs', () => {
    expect(issuesOf(v1('interval: 5s', 'firstByteTimeout: 2s')).map((i) => [i.path, i.message])).toEqual([
      [`${BASE}.interval`, `unknown setting here; did you mean ${BASE}.healthCheck.interval? (line 6, column 7)`],
      [`${BASE}.firstByteTimeout`, `unknown setting here; did you mean ${BASE}.healthCheck.firstByteTimeout? (line 7, column 7)`],
    ]);
    expect(issuesOf(doc('healthCheck:', '  maxConnections: 5')).map((i) => i.message)).toEqual([
      'document 2 (KubePrismConfig): unknown setting here; did you mean maxConnections? (line 11, column 3)',
    ]);
  });

  it('lists what the block knows when nothing is close', () => {
    const [issue] = issuesOf(v1('healthCheck:', '  banana: 1'));
    expect(issue).toEqual({
      path: `${BASE}.healthCheck.banana`,
      message: 'unknown setting; known here: mode, interval, timeout, jitter, firstByteTimeout (line 7, column 9)',
    });
  });

  it('says where tlsServerName belongs when it is written in the v1alpha1 block', () => {
    expect(issuesOf(v1('tlsServerName: api.example.com'))).toEqual([
      {
        path: `${BASE}.tlsServerName`,
        message: 'unknown setting here: tlsServerName is read from a KubePrismConfig document (Talos 1.15 form) only (line 6, column 7)',
      },
    ]);
  });

  it('accepts and keeps unknown fields everywhere else in a Talos config', () => {
    const text =
      `${HEAD}      enabled: true\n    hostDNS: {enabled: true, someFutureField: 1}\n    futureFeature: {on: true}\n  newTopLevel: x\n` +
      `${TAIL}  brandNewSection: {a: 1}\n---\napiVersion: v1alpha1\nkind: SomeFutureConfig\nwhatever: [1, 2]\n`;
    const { documents, view } = parseMachineConfig(text);
    expect(view.kubePrism.enabled).toBe(true);
    expect(documents[0]).toMatchObject({
      machine: { features: { hostDNS: { someFutureField: 1 }, futureFeature: { on: true } }, newTopLevel: 'x' },
      cluster: { brandNewSection: { a: 1 } },
    });
    expect(documents[1]).toEqual({ apiVersion: 'v1alpha1', kind: 'SomeFutureConfig', whatever: [1, 2] });
  });
});

describe('kubeprism settings: values in the wrong form', () => {
  it('says "must be a number" for a quoted number, in both forms', () => {
    expect(issuesOf(v1('port: "7445"', 'maxConnections: "10"', 'healthCheck: {jitter: "0.2"}')).map((i) => [i.path, i.message])).toEqual([
      [`${BASE}.port`, 'must be a number, not a string (got "7445"); write it without quotes (line 6, column 13)'],
      [`${BASE}.maxConnections`, 'must be a number, not a string (got "10"); write it without quotes (line 7, column 23)'],
      [`${BASE}.healthCheck.jitter`, 'must be a number, not a string (got "0.2"); write it without quotes (line 8, column 29)'],
    ]);
    expect(issuesOf(doc("port: '7445'")).map((i) => [i.path, i.message])).toEqual([
      ['port', 'document 2 (KubePrismConfig): must be a number, not a string (got "7445"); write it without quotes (line 10, column 7)'],
    ]);
  });

  it('says the same for a quoted port elsewhere in the config', () => {
    const text = v1('enabled: true').replace(
      'endpoint: https://cp.example.org:6443',
      'endpoint: https://cp.example.org:6443\n    localAPIServerPort: "6443"',
    );
    expect(issuesOf(text).map((i) => [i.path, i.message.replace(/ \(line.*$/u, '')])).toEqual([
      ['cluster.controlPlane.localAPIServerPort', 'must be a number, not a string (got "6443"); write it without quotes'],
    ]);
  });

  it('asks for a unit when a duration is given as a number; a bare 0 is zero', () => {
    expect(issuesOf(v1('healthCheck: {interval: 5}')).map((i) => i.message)).toEqual([
      'must be a duration with a unit, such as "5s" (got 5); write "5s" or "5ms" (line 6, column 31)',
    ]);
    expect(parseMachineConfig(v1('healthCheck: {firstByteTimeout: 0}')).view.kubePrism.firstByteTimeoutMs).toBe(0);
  });

  it('says "true or false" for a quoted boolean and for other words', () => {
    expect(issuesOf(v1('listenIPv6: "true"', 'closeConnectionsOnDown: yes')).map((i) => i.message.replace(/ \(line.*$/u, ''))).toEqual([
      'must be true or false, not a string (got "true"); write it without quotes',
      'must be true or false (got "yes")',
    ]);
  });

  it('refuses a block that is not a mapping', () => {
    expect(issuesOf(v1('healthCheck: fast')).map((i) => [i.path, i.message.replace(/ \(line.*$/u, '')])).toEqual([
      [`${BASE}.healthCheck`, 'must be a mapping of fields (got "fast")'],
    ]);
    expect(
      issuesOf(`${HEAD.replace('    kubePrism:\n', '    kubePrism: on\n')}${TAIL}`).map((i) => i.message.replace(/ \(line.*$/u, '')),
    ).toEqual(['must be a mapping of fields (got "on")']);
  });

  it('keeps the cross-field check: the timeout must fit in the interval', () => {
    expect(issuesOf(v1('healthCheck: {interval: 1s, timeout: 1s}')).map((i) => [i.path, i.message.replace(/ \(line.*$/u, '')])).toEqual([
      [`${BASE}.healthCheck.timeout`, 'must be less than the interval (1s) (got 1s)'],
    ]);
  });
});

describe('kubeprism settings: derived from the balancer schema', () => {
  const leaves = settingLeaves(v1alpha1KubePrismSchema);

  it('knows every setting under its YAML name (durations without Ms), nested where the schema says', () => {
    expect(leaves.map((l) => l.yaml)).toEqual(
      expect.arrayContaining([
        'port',
        'healthCheck.interval',
        'healthCheck.firstByteTimeout',
        'maxConnections',
        'kubernetesDiscovery.removalDelay',
      ]),
    );
    expect(leaves.find((l) => l.yaml === 'healthCheck.firstByteTimeout')).toEqual({
      yaml: 'healthCheck.firstByteTimeout',
      field: 'firstByteTimeoutMs',
      duration: true,
    });
    // The document form knows the same settings plus tlsServerName.
    expect(
      settingLeaves(kubePrismConfigDocumentSchema)
        .map((l) => l.yaml)
        .sort(),
    ).toEqual([...leaves.map((l) => l.yaml), 'tlsServerName'].sort());
  });

  it('reads every setting written at its default back to the defaults, in both forms', () => {
    const defaults = v1alpha1KubePrismSchema.parse({}) as Record<string, unknown>;
    const block: Record<string, unknown> = {};
    for (const leaf of leaves) {
      const value = leaf.field.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], defaults);
      if (value === undefined) continue; // optional without a default (kubernetesDiscovery.kubeconfig)
      const yamlPath = leaf.yaml.split('.');
      let at = block;
      for (const key of yamlPath.slice(0, -1)) at = (at[key] ??= {}) as Record<string, unknown>;
      at[yamlPath[yamlPath.length - 1] ?? ''] = leaf.duration ? formatDuration(value as number) : value;
    }
    const text = `${HEAD}${stringify(block).trimEnd().replace(/^/gmu, '      ')}\n${TAIL}`;
    expect(parseMachineConfig(text).view.kubePrism).toEqual(KUBEPRISM_DEFAULTS);
    const { enabled: _enabled, ...documentBlock } = block;
    expect(parseMachineConfig(doc(stringify(documentBlock).trimEnd())).view.kubePrism).toEqual(KUBEPRISM_DEFAULTS);
  });

  it("the README's settings table lists exactly the settings the schema knows", () => {
    const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf("kubeprism's own settings go in the same place as the port"));
    const rows = [...table.slice(0, table.indexOf('\n\n', table.indexOf('|'))).matchAll(/^\| `([\w.]+)` \|/gmu)].map((m) => m[1]);
    // enabled, port and tlsServerName are in the table above it, with where each form writes them.
    const documented = leaves.map((l) => l.yaml).filter((k) => !['enabled', 'port'].includes(k));
    expect(rows.sort()).toEqual(documented.sort());
  });
});

describe('closest known key', () => {
  it.each([
    ['healthcheck', 'healthCheck', 0],
    ['intervall', 'interval', 1],
    ['intreval', 'interval', 1],
    ['maxConnection', 'maxConnections', 1],
    ['', 'port', 4],
  ])('%s → %s is %i edits', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });

  it('suggests only keys close enough to be a typo, the closest first', () => {
    const known = ['mode', 'interval', 'timeout', 'jitter', 'firstByteTimeout'];
    expect(closestWord('intervl', known)).toBe('interval');
    expect(closestWord('MODE', known)).toBe('mode');
    expect(closestWord('banana', known)).toBeUndefined();
    expect(closestWord('time', known)).toBeUndefined();
  });
});
