import { describe, expect, it } from 'vitest';
import type { FieldIssue } from '../../src/runtime/errors.js';
import { INVALID_CONFIG, InvalidConfigError } from '../../src/config/errors.js';
import { parseMachineConfig } from '../../src/config/machine-config.js';
import { fixture, invalid } from './helpers.js';

const HC = 'machine.features.kubePrism.healthCheck';

/** Each bad fixture and every issue it must produce, exactly (paths dotted from the document root). */
const cases: Record<string, FieldIssue[]> = {
  'endpoint-http.yaml': [
    {
      path: 'cluster.controlPlane.endpoint',
      message: 'must be an https URL like https://host:6443 (got "http://cluster.example.com:6443") (line 7, column 19)',
    },
  ],
  'port-out-of-range.yaml': [{ path: 'machine.features.kubePrism.port', message: 'must be 1-65535 (got 74450) (line 8, column 19)' }],
  'duplicate-kubeprism.yaml': [
    {
      path: 'machine.features.kubePrism',
      message:
        'document 1 (v1alpha1): KubePrism is also configured by the KubePrismConfig document (document 2); configure it in one place only (line 7, column 13)',
    },
  ],
  'not-yaml.yaml': [
    {
      path: '',
      message: 'not valid YAML: Flow map in block collection must be sufficiently indented and end with a } (line 4, column 1)',
    },
  ],
  'duplicate-key.yaml': [{ path: '', message: 'not valid YAML: Map keys must be unique (line 5, column 5)' }],
  'empty.yaml': [{ path: '', message: 'empty file: expected a Talos machine config (version: v1alpha1)' }],
  'wrong-version.yaml': [{ path: 'version', message: 'unsupported version "v1alpha2": must be v1alpha1 (line 2, column 10)' }],
  'null-version.yaml': [{ path: 'version', message: 'unsupported version null: must be v1alpha1 (line 2, column 10)' }],
  'wrong-apiversion.yaml': [
    {
      path: 'apiVersion',
      message: 'document 2 (KubePrismConfig): unsupported apiVersion "v1alpha2": must be v1alpha1 (line 9, column 13)',
    },
  ],
  'missing-version.yaml': [
    {
      path: '',
      message: 'not a Talos config document: it has neither "version: v1alpha1" nor "apiVersion" and "kind" (line 2, column 1)',
    },
  ],
  'missing-machine-type.yaml': [{ path: 'machine.type', message: 'required (controlplane or worker) (line 4, column 5)' }],
  'missing-endpoint.yaml': [
    { path: 'cluster.controlPlane.endpoint', message: 'required: the https URL of the cluster API endpoint (line 6, column 5)' },
  ],
  'unknown-machine-type.yaml': [
    { path: 'machine.type', message: 'must be controlplane, worker or init (got "master") (line 4, column 11)' },
  ],
  'bad-agent-settings.yaml': [
    { path: `${HC}.mode`, message: 'must be tcp, tls or readyz (got "http") (line 8, column 23)' },
    { path: `${HC}.interval`, message: 'needs a unit, e.g. "5s" or "5ms" (got "5"); only "0" may go without one (line 9, column 27)' },
    { path: `${HC}.jitter`, message: 'must be a number from 0 to 0.9 (got 1.5) (line 11, column 25)' },
    { path: `${HC}.firstByteTimeout`, message: 'must be at most 10m (got "11m") (line 12, column 35)' },
    { path: 'machine.features.kubePrism.listenIPv6', message: 'must be true or false (got "yes") (line 13, column 25)' },
    { path: 'machine.features.kubePrism.maxConnections', message: 'must be a whole number from 1 to 1000000 (got 0) (line 14, column 29)' },
  ],
  'timeout-not-below-interval.yaml': [
    {
      path: 'healthCheck.timeout',
      message: 'document 2 (KubePrismConfig): must be less than the interval (2s) (got 2s) (line 14, column 14)',
    },
  ],
  'kubeprismconfig-bad-port.yaml': [
    { path: 'port', message: 'document 3 (KubePrismConfig): must be 1-65535 (got 0) (line 12, column 7)' },
    {
      path: 'tlsServerName',
      message:
        'document 3 (KubePrismConfig): must be a DNS name or IP address such as "api.cluster.local" (got "not a host name") (line 13, column 16)',
    },
  ],
  'kubeprismconfig-enabled-false.yaml': [
    {
      path: 'enabled',
      message:
        'document 2 (KubePrismConfig): a KubePrismConfig document always enables KubePrism; remove the document and set machine.features.kubePrism.enabled: false to turn it off (line 11, column 10)',
    },
  ],
  'endpoint-in-both-forms.yaml': [
    {
      path: 'cluster.controlPlane.endpoint',
      message:
        'document 1 (v1alpha1): also set as endpoint in document 2 (KubeClusterConfig); set it in one place only (line 7, column 19)',
    },
  ],
  'port-clash-controlplane.yaml': [
    {
      path: 'machine.features.kubePrism.port',
      message: 'KubePrism and the local API server cannot share port 6443 on a control-plane node (line 7, column 19)',
    },
  ],
};

describe('parseMachineConfig rejects bad configs with every issue and its path', () => {
  it.each(Object.entries(cases))('%s', (name, issues) => {
    const err = invalid(() => parseMachineConfig(fixture(`invalid/${name}`)));
    expect(err.code).toBe(INVALID_CONFIG);
    expect(err.issues).toEqual(issues);
  });
});

describe('InvalidConfigError message', () => {
  it('is one line per issue, `path: message`', () => {
    const err = invalid(() => parseMachineConfig(fixture('invalid/bad-agent-settings.yaml')));
    const lines = err.message.split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[0]).toBe(`${HC}.mode: must be tcp, tls or readyz (got "http") (line 8, column 23)`);
  });

  it('puts the document label before the path in multi-document files', () => {
    const err = invalid(() => parseMachineConfig(fixture('invalid/kubeprismconfig-bad-port.yaml')));
    expect(err.message.split('\n')[0]).toBe('document 3 (KubePrismConfig): port: must be 1-65535 (got 0) (line 12, column 7)');
  });

  it('says just the message for whole-file issues', () => {
    expect(invalid(() => parseMachineConfig('')).message).toBe('empty file: expected a Talos machine config (version: v1alpha1)');
  });

  it('is an InvalidConfigError carrying the stable code', () => {
    const err = invalid(() => parseMachineConfig('version: v1alpha1\n'));
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect(err.name).toBe('InvalidConfigError');
    expect(err.code).toBe('KP_ERR_INVALID_CONFIG');
  });
});

describe('parseMachineConfig: more ways to be wrong', () => {
  const worker = 'version: v1alpha1\nmachine:\n    type: worker\n';
  const endpoint = 'cluster:\n    controlPlane:\n        endpoint: https://cluster.example.com:6443\n';

  it('lists the missing machine type and endpoint together', () => {
    expect(invalid(() => parseMachineConfig('version: v1alpha1\n')).issues).toEqual([
      { path: 'machine.type', message: 'required (controlplane or worker) (line 1, column 1)' },
      { path: 'cluster.controlPlane.endpoint', message: 'required: the https URL of the cluster API endpoint (line 1, column 1)' },
    ]);
  });

  it('refuses text that is a scalar rather than a config', () => {
    expect(invalid(() => parseMachineConfig('just some words')).issues).toEqual([
      { path: '', message: 'not a Talos config document: expected a mapping of fields (got "just some words") (line 1, column 1)' },
    ]);
  });

  it('refuses binary garbage as YAML with a position', () => {
    const err = invalid(() => parseMachineConfig('\u0000\u0001\u0002: [\n\t}'));
    expect(err.issues.length).toBeGreaterThan(0);
    for (const issue of err.issues) expect(issue.message).toMatch(/^not valid YAML: .* \(line \d+, column \d+\)$/u);
  });

  it('refuses values JSON cannot carry, with their path', () => {
    expect(invalid(() => parseMachineConfig(`${worker}    sysctls:\n        x: .inf\n${endpoint}`)).issues).toEqual([
      { path: 'machine.sysctls.x', message: 'Infinity is not supported (JSON cannot carry it) (line 5, column 12)' },
    ]);
    expect(invalid(() => parseMachineConfig(`${worker}    a: &x\n        b: *x\n${endpoint}`)).issues).toEqual([
      { path: 'machine.a.b', message: 'a YAML alias refers to its own anchor (recursive data) (line 5, column 12)' },
    ]);
  });

  it('requires a v1alpha1 document', () => {
    const text = 'apiVersion: v1alpha1\nkind: KubeClusterConfig\nendpoint: https://c.example.com\n';
    expect(invalid(() => parseMachineConfig(text)).issues).toEqual([
      { path: '', message: 'no v1alpha1 document: a machine config needs one ("version: v1alpha1") with machine.type' },
    ]);
  });

  it('reports a KubeClusterConfig without an endpoint there', () => {
    const text = `${worker}---\napiVersion: v1alpha1\nkind: KubeClusterConfig\nclusterName: x\n`;
    expect(invalid(() => parseMachineConfig(text)).issues).toEqual([
      {
        path: 'endpoint',
        message: 'document 2 (KubeClusterConfig): required: the https URL of the cluster API endpoint (line 5, column 1)',
      },
    ]);
  });

  it('allows one v1alpha1 document and one of each kind it reads', () => {
    const prism = 'apiVersion: v1alpha1\nkind: KubePrismConfig\nport: 7445\n';
    const text = `${worker}${endpoint}---\n${worker}---\n${prism}---\n${prism}`;
    expect(invalid(() => parseMachineConfig(text)).issues.map((i) => i.message.replace(/ \(line.*$/u, ''))).toEqual([
      'document 2 (v1alpha1): only one v1alpha1 document is allowed (document 1 is one too)',
      'document 4 (KubePrismConfig): only one KubePrismConfig document is allowed (document 3 is one too)',
    ]);
  });

  it('refuses an endpoint with a path, credentials or no brackets around IPv6', () => {
    for (const url of [
      'https://c.example.com:6443/api',
      'https://u:p@c.example.com',
      'https://2001:db8::1:6443',
      'https:c.example.com',
      '6443',
    ]) {
      const err = invalid(() => parseMachineConfig(`${worker}${endpoint.replace('https://cluster.example.com:6443', url)}`));
      expect(err.issues).toHaveLength(1);
      expect(err.issues[0]?.path).toBe('cluster.controlPlane.endpoint');
      expect(err.issues[0]?.message).toMatch(/^must be an https URL/u);
    }
  });

  it('points at the interval when the default timeout would not fit in it', () => {
    const text = `${worker}    features:\n        kubePrism:\n            healthCheck:\n                interval: 1s\n${endpoint}`;
    expect(invalid(() => parseMachineConfig(text)).issues).toEqual([
      {
        path: 'machine.features.kubePrism.healthCheck.interval',
        message: 'must be greater than the timeout (2s, the default) (got 1s) (line 7, column 27)',
      },
    ]);
  });

  it('keeps health-check durations within what the balancer accepts', () => {
    const hc = (interval: string, timeout: string): string =>
      `${worker}    features:\n        kubePrism:\n            healthCheck: {interval: "${interval}", timeout: "${timeout}"}\n${endpoint}`;
    const messages = (text: string): string[] =>
      invalid(() => parseMachineConfig(text)).issues.map((i) => i.message.replace(/ \(line.*$/u, ''));
    expect(messages(hc('5ms', '1ms'))).toEqual(['must be at least 10ms (got "5ms")']);
    expect(messages(hc('2h', '1s'))).toEqual(['must be at most 1h (got "2h")']);
    expect(messages(hc('1s', '1500us'))).toEqual(['must be a whole number of milliseconds (got "1500us")']);
    expect(messages(hc('1s', '0'))).toEqual(['must be at least 1ms (got "0")']);
  });

  it('accepts an unusual port when nothing clashes with it', () => {
    const text = `${worker}    features:\n        kubePrism:\n            port: 6443\n${endpoint}`;
    expect(parseMachineConfig(text).view.kubePrism.port).toBe(6443); // a worker runs no API server
  });

  it('refuses text nested deeper than the parser can take, before parsing it (it would abort the process)', () => {
    for (const nested of [
      '['.repeat(5_000),
      `${'{a: '.repeat(3_000)}1${'}'.repeat(3_000)}`,
      `${worker}    x:\n${Array.from({ length: 150 }, (_, i) => `${' '.repeat(6 + 2 * i)}k${i}:\n`).join('')}`,
    ]) {
      const err = invalid(() => parseMachineConfig(nested));
      expect(err.issues).toEqual([
        { path: '', message: expect.stringMatching(/^not valid YAML: nested more than 100 levels deep \(line \d+, column \d+\)$/) },
      ]);
    }
  });
});
