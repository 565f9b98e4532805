import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { InvalidConfigError } from '../../src/config/errors.js';
import { machineConfigView, parseMachineConfig } from '../../src/config/machine-config.js';
import { parseMembersFile } from '../../src/config/members-file.js';
import { KUBEPRISM_DEFAULTS } from '../../src/config/schemas.js';
import { mutated } from '../harness/mutations.js';
import { fixture } from './helpers.js';

/** Runs `fn`; anything thrown other than InvalidConfigError (a TypeError, a RangeError…) fails the property. */
function onlyInvalidConfig(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof InvalidConfigError)) throw err;
    expect(err.issues.length).toBeGreaterThan(0);
    for (const issue of err.issues) {
      expect(typeof issue.path).toBe('string');
      expect(typeof issue.message).toBe('string');
    }
  }
}

const seeds = [
  'v1alpha1-controlplane.yaml',
  'v1alpha1-agent-settings.yaml',
  'multidoc-1.15-controlplane.yaml',
  'multidoc-1.15-disabled.yaml',
  'members.yaml',
].map(fixture);

describe('properties: nothing but InvalidConfigError escapes', () => {
  it('random text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        onlyInvalidConfig(() => parseMachineConfig(text));
        onlyInvalidConfig(() => parseMembersFile(text));
      }),
      { numRuns: 300 },
    );
  });

  it('mutated real configs and members files', () => {
    fc.assert(
      fc.property(mutated(seeds), (text) => {
        onlyInvalidConfig(() => parseMachineConfig(text));
        onlyInvalidConfig(() => parseMembersFile(text));
      }),
      { numRuns: 500 },
    );
  });

  it('random values put where kubeprism reads', () => {
    const paths = [
      ['machine'],
      ['machine', 'type'],
      ['machine', 'features'],
      ['machine', 'features', 'kubePrism'],
      ['machine', 'features', 'kubePrism', 'port'],
      ['machine', 'features', 'kubePrism', 'enabled'],
      ['machine', 'features', 'kubePrism', 'healthCheck'],
      ['machine', 'features', 'kubePrism', 'healthCheck', 'interval'],
      ['machine', 'features', 'kubePrism', 'healthCheck', 'jitter'],
      ['cluster'],
      ['cluster', 'controlPlane'],
      ['cluster', 'controlPlane', 'endpoint'],
      ['cluster', 'controlPlane', 'localAPIServerPort'],
      ['cluster', 'clusterName'],
      ['version'],
      ['kind'],
    ];
    const base = (): Record<string, unknown> => ({
      version: 'v1alpha1',
      machine: { type: 'worker', features: { kubePrism: { enabled: true, port: 7445, healthCheck: { interval: '5s' } } } },
      cluster: { controlPlane: { endpoint: 'https://c.example.com:6443' } },
    });
    fc.assert(
      fc.property(fc.constantFrom(...paths), fc.jsonValue(), fc.boolean(), (path, value, asText) => {
        const doc = base();
        let cur: Record<string, unknown> = doc;
        for (const key of path.slice(0, -1)) cur = cur[key] as Record<string, unknown>;
        cur[path[path.length - 1] ?? ''] = value;
        if (asText) onlyInvalidConfig(() => parseMachineConfig(stringify(doc)));
        else onlyInvalidConfig(() => machineConfigView([doc]));
      }),
      { numRuns: 500 },
    );
  });

  it('arbitrary document lists', () => {
    fc.assert(
      fc.property(
        fc.array(fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, withMap: true }), { maxLength: 4 }),
        (docs) => {
          onlyInvalidConfig(() => machineConfigView(docs));
        },
      ),
      { numRuns: 300 },
    );
  });
});

/** Hosts for endpoints, with the host kubeprism must report (IPv6 unbracketed). */
const endpointHost = fc.oneof(
  fc.domain().map((d) => ({ inUrl: d, host: d })),
  fc.ipV4().map((ip) => ({ inUrl: ip, host: ip })),
  fc.constantFrom('2001:db8::1', 'fd00:10::2', '::1').map((ip) => ({ inUrl: `[${ip}]`, host: ip })),
);

/** A valid config, as documents in either form, with the view it must produce. */
const validConfig = fc
  .record({
    modern: fc.boolean(),
    machineType: fc.constantFrom('controlplane', 'worker', 'init'),
    endpoint: endpointHost,
    endpointPort: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    apiPort: fc.option(fc.integer({ min: 1, max: 7000 }), { nil: undefined }),
    clusterName: fc.option(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/u), { nil: undefined }),
    prism: fc.option(
      fc.record({
        port: fc.integer({ min: 7001, max: 65535 }),
        mode: fc.constantFrom('tcp', 'tls', 'readyz'),
        intervalS: fc.integer({ min: 2, max: 600 }),
        timeoutMs: fc.integer({ min: 1, max: 1999 }),
        jitter: fc.double({ min: 0, max: 0.9, noNaN: true }),
        firstByteTimeoutMs: fc.option(fc.integer({ min: 0, max: 600_000 }), { nil: undefined }),
        listenIPv6: fc.boolean(),
      }),
      { nil: undefined },
    ),
    disabled: fc.boolean(),
  })
  .map((c) => {
    const url = `https://${c.endpoint.inUrl}${c.endpointPort === undefined ? '' : `:${c.endpointPort}`}`;
    const prismFields =
      c.prism === undefined
        ? undefined
        : {
            port: c.prism.port,
            healthCheck: {
              mode: c.prism.mode,
              interval: `${c.prism.intervalS}s`,
              timeout: `${c.prism.timeoutMs}ms`,
              jitter: c.prism.jitter,
              ...(c.prism.firstByteTimeoutMs === undefined ? {} : { firstByteTimeout: `${c.prism.firstByteTimeoutMs}ms` }),
            },
            listenIPv6: c.prism.listenIPv6,
          };
    // The 1.15 form turns KubePrism off by leaving out the document and setting enabled: false.
    const disabled = c.disabled && (c.prism === undefined || !c.modern);
    const features =
      !c.modern && (prismFields !== undefined || disabled)
        ? { kubePrism: { ...(prismFields ?? {}), ...(disabled ? { enabled: false } : {}) } }
        : c.modern && disabled
          ? { kubePrism: { enabled: false } }
          : {};
    const v1 = {
      version: 'v1alpha1',
      machine: { type: c.machineType, token: 'abc.def', features },
      cluster: c.modern
        ? { token: 'x' }
        : {
            controlPlane: { endpoint: url, ...(c.apiPort === undefined ? {} : { localAPIServerPort: c.apiPort }) },
            ...(c.clusterName === undefined ? {} : { clusterName: c.clusterName }),
          },
    };
    const documents: unknown[] = [v1];
    if (c.modern) {
      documents.push({
        apiVersion: 'v1alpha1',
        kind: 'KubeClusterConfig',
        endpoint: url,
        ...(c.clusterName === undefined ? {} : { clusterName: c.clusterName }),
      });
      if (c.apiPort !== undefined) documents.push({ apiVersion: 'v1alpha1', kind: 'KubeAPIServerConfig', apiPort: c.apiPort });
      if (prismFields !== undefined && !disabled) documents.push({ apiVersion: 'v1alpha1', kind: 'KubePrismConfig', ...prismFields });
      documents.push({ apiVersion: 'v1alpha1', kind: 'HostnameConfig', auto: 'stable' });
    }
    const view = {
      machineType: c.machineType === 'init' ? 'controlplane' : c.machineType,
      ...(c.clusterName === undefined ? {} : { clusterName: c.clusterName }),
      clusterEndpoint: { url, host: c.endpoint.host, port: c.endpointPort ?? 443 },
      localAPIServerPort: c.apiPort ?? 6443,
      kubePrism: {
        ...KUBEPRISM_DEFAULTS,
        enabled: !disabled,
        ...(c.prism === undefined
          ? {}
          : {
              port: c.prism.port,
              healthCheck: {
                mode: c.prism.mode,
                intervalMs: c.prism.intervalS * 1000,
                timeoutMs: c.prism.timeoutMs,
                jitter: c.prism.jitter,
              },
              ...(c.prism.firstByteTimeoutMs === undefined ? {} : { firstByteTimeoutMs: c.prism.firstByteTimeoutMs }),
              listenIPv6: c.prism.listenIPv6,
            }),
      },
    };
    return { documents, view };
  });

const toYaml = (documents: readonly unknown[]): string => documents.map((d) => stringify(d)).join('---\n');

describe('properties: valid configs', () => {
  it('give the expected view, from text and from stored documents', () => {
    fc.assert(
      fc.property(validConfig, ({ documents, view }) => {
        const parsed = parseMachineConfig(toYaml(documents));
        expect(parsed.view).toEqual(view);
        expect(parsed.documents).toEqual(documents);
        expect(machineConfigView(JSON.parse(JSON.stringify(parsed.documents)) as unknown[])).toEqual(view);
      }),
      { numRuns: 300 },
    );
  });

  it('stay valid, and the same, after their documents are written out and read back', () => {
    fc.assert(
      fc.property(validConfig, ({ documents }) => {
        const first = parseMachineConfig(toYaml(documents));
        const second = parseMachineConfig(toYaml(first.documents));
        expect(second).toEqual(first);
      }),
      { numRuns: 200 },
    );
  });
});
