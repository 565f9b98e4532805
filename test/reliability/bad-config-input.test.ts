import { writeFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidConfigError, parseMachineConfig, type MachineConfigView } from '../../src/config/index.js';
import {
  KUBELET_ID,
  KUBEPRISM_STATUS_ID,
  KubeletConfigType,
  KubePrismStatusType,
  MACHINE_CONFIG_ID,
  MachineConfigStatusType,
  MachineConfigType,
} from '../../src/resources/index.js';
import { ptr } from '../../src/runtime/index.js';
import { eventuallyResource } from '../harness/eventually.js';
import { fixedPort, refusingPort, type RefusingPort } from '../harness/ports.js';
import { LIVE_TYPES, resourceSnapshot, startAgent, type AgentFixture } from './fixture.js';
import { mutated, oddValue, pathRelated, runs, withValue } from '../harness/mutations.js';

// Bad machine configs fed to a running agent (with its balancer up), through applyConfig (the API's
// path) and through the config file (the reload path the watcher and SIGHUP take). The parser is the
// oracle: whatever it rejects, the agent rejects with every issue naming a path, records it in
// MachineConfigStatuses, and changes nothing else (every resource's version and spec compared before and
// after); whatever it accepts is applied whole. Accepted inputs are fed only when they leave KubePrism's
// port and upstream as they are: the suite never binds a fixed port or dials a non-loopback address.

const SKIP = [...LIVE_TYPES, MachineConfigStatusType.type];
const mcPtr = ptr(MachineConfigType, MACHINE_CONFIG_ID);
const mcsPtr = ptr(MachineConfigStatusType, MACHINE_CONFIG_ID);

let f: AgentFixture;
/** The cluster endpoint's port: held by the test, nothing listens there. */
let closed: RefusingPort | undefined;
let baseView: MachineConfigView;
let seeds: string[];
let inputs = 0;
/** How the inputs turned out, for the report. */
const tally = { rejected: 0, accepted: 0, skipped: 0 };

function v1alpha1Seed(port: number, endpoint: string): string {
  return stringify({
    version: 'v1alpha1',
    debug: false,
    persist: true,
    machine: {
      type: 'worker',
      token: 'q0n8zd.x7dzz3amm8ffhbhm',
      certSANs: ['127.0.0.1'],
      kubelet: { image: 'ghcr.io/siderolabs/kubelet:v1.33.0', extraArgs: { 'rotate-server-certificates': 'true' } },
      features: {
        rbac: true,
        kubePrism: { enabled: true, port, healthCheck: { mode: 'tcp', interval: '5s', timeout: '1s', jitter: 0.1 } },
      },
    },
    cluster: {
      clusterName: 'reliability',
      controlPlane: { endpoint },
      network: { dnsDomain: 'cluster.local', podSubnets: ['10.244.0.0/16'] },
    },
  });
}

/** The same settings in Talos 1.15's shape: endpoint and KubePrism in documents of their own. */
function multiDocSeed(port: number, endpoint: string): string {
  return [
    'version: v1alpha1\nmachine:\n    type: worker\n    token: 7ws3zq.0f4bq1q2n3xyz8lk\n    features:\n        diskQuotaSupport: true\ncluster:\n    token: inn7ol.u4ehnti8qyls9ymo\n',
    `apiVersion: v1alpha1\nkind: KubeClusterConfig\nclusterName: reliability\nendpoint: ${endpoint}\n`,
    `apiVersion: v1alpha1\nkind: KubePrismConfig\nport: ${port}\nhealthCheck:\n    mode: tcp\n    interval: 5s\n    timeout: 1s\n    jitter: 0.1\n`,
    'apiVersion: v1alpha1\nkind: KubeCoreDNSConfig\nenabled: true\n',
  ].join('---\n');
}

/** What the agent must do with `text`; `unsafe` when it would accept it and move the port or upstream. */
function expectation(text: string): { kind: 'reject' } | { kind: 'accept'; documents: unknown[] } | { kind: 'unsafe' } {
  let parsed;
  try {
    parsed = parseMachineConfig(text);
  } catch (err) {
    if (err instanceof InvalidConfigError) return { kind: 'reject' };
    throw err; // anything else escaping the parser is a bug in itself
  }
  const same = isDeepStrictEqual({ ...parsed.view, clusterName: undefined }, { ...baseView, clusterName: undefined });
  return same ? { kind: 'accept', documents: parsed.documents } : { kind: 'unsafe' };
}

/**
 * Feeds one input and checks the outcome against the oracle. `changed` is the path a structured
 * mutation wrote: a rejection must name it, something inside it, or a parent of it.
 */
async function check(raw: string, via: 'api' | 'file', changed?: string): Promise<void> {
  // Through the file each input is made unique, so the reload never skips it as "unchanged".
  const text = via === 'file' ? `${raw}\n# input ${++inputs}\n` : raw;
  const expected = expectation(via === 'file' ? Buffer.from(text, 'utf8').toString('utf8') : text);
  if (expected.kind === 'unsafe') tally.skipped++;
  fc.pre(expected.kind !== 'unsafe');
  tally[expected.kind === 'accept' ? 'accepted' : 'rejected']++;
  const before = await resourceSnapshot(f.state, SKIP);
  const statusBefore = (await f.state.get(mcsPtr)).spec;
  let result;
  if (via === 'api') result = await f.agent.applyConfig(text, 'property');
  else {
    await writeFile(f.configPath, text);
    result = await f.agent.reloadConfig();
  }
  if (expected.kind === 'accept') {
    expect(result).toMatchObject({ applied: true });
    expect((await f.state.get(mcPtr)).spec.documents).toEqual(expected.documents);
    expect((await f.state.get(mcsPtr)).spec.lastError).toBeUndefined();
    expect(await f.agent.applyConfig(seeds[0] as string, 'property')).toMatchObject({ applied: true }); // back to the base
    return;
  }
  if (result === undefined || result.applied) throw new Error(`accepted what the parser rejects: ${JSON.stringify(text.slice(0, 300))}`);
  expect(result.issues.length).toBeGreaterThan(0);
  for (const issue of result.issues) {
    expect(typeof issue.path).toBe('string');
    expect(issue.message.length).toBeGreaterThan(0);
  }
  if (changed !== undefined) {
    // `version` and `kind` say what a document is: without a usable one (`version: null`, `kind: Foo`) the
    // document is no Talos document at all, which is reported on the whole document ("").
    const whole = changed === 'kind' || changed === 'version';
    const named = result.issues.some((i) => pathRelated(i.path, changed) || (whole && i.path === ''));
    expect(named, `${changed} → ${JSON.stringify(result.issues)}`).toBe(true);
  }
  const status = (await f.state.get(mcsPtr)).spec;
  expect(status.appliedVersion).toBe(statusBefore.appliedVersion);
  expect(status.lastError?.issues).toEqual(result.issues.map((i) => ({ path: i.path, message: i.message })));
  expect(status.lastError?.source).toBe(via === 'api' ? 'property' : `file:${f.configPath}`);
  expect(await resourceSnapshot(f.state, SKIP)).toEqual(before);
}

/** Where structured mutations write: the fields kubeprism reads, and the documents around them. */
const PATHS = [
  'version',
  'kind',
  'machine',
  'machine.type',
  'machine.features',
  'machine.features.kubePrism',
  'machine.features.kubePrism.enabled',
  'machine.features.kubePrism.port',
  'machine.features.kubePrism.healthCheck',
  'machine.features.kubePrism.healthCheck.mode',
  'machine.features.kubePrism.healthCheck.interval',
  'machine.features.kubePrism.healthCheck.timeout',
  'machine.features.kubePrism.healthCheck.jitter',
  'machine.features.kubePrism.maxConnections',
  'machine.features.kubePrism.listenIPv6',
  'cluster',
  'cluster.controlPlane',
  'cluster.controlPlane.endpoint',
  'cluster.controlPlane.localAPIServerPort',
  'cluster.clusterName',
  'cluster.discovery',
];

beforeAll(async () => {
  const port = await fixedPort();
  closed = await refusingPort(['127.0.0.201']);
  const endpoint = `https://127.0.0.201:${closed.port}`; // nothing listens there
  seeds = [v1alpha1Seed(port, endpoint), multiDocSeed(port, endpoint)];
  baseView = parseMachineConfig(seeds[0] as string).view;
  expect(parseMachineConfig(seeds[1] as string).view).toEqual(baseView);
  f = await startAgent({ config: seeds[0] as string, watchDebounceMs: 600_000, watchPollMs: 600_000 }); // inputs are fed by explicit reloads
  await eventuallyResource(f.state, ptr(KubePrismStatusType, KUBEPRISM_STATUS_ID), (r) => expect(r?.spec.listening).toBe(true));
  // Settled: the last step of the chain (the kubelet moves to KubePrism once it listens) is done.
  await eventuallyResource(f.state, ptr(KubeletConfigType, KUBELET_ID), (r) => expect(r?.spec.server).toBe(`https://127.0.0.1:${port}`));
});

afterAll(async () => {
  console.info(
    `bad machine configs: ${tally.rejected} rejected whole (each issue with a path, nothing else changed), ${tally.accepted} accepted whole, ${tally.skipped} valid ones not fed (would move the port or upstream)`,
  );
  await f?.stop();
  closed?.release();
});

describe('reliability: bad machine configs fed to a running agent (fast-check)', () => {
  it('mutated configs through applyConfig: rejected whole with paths, or applied whole', async () => {
    await fc.assert(
      fc.asyncProperty(mutated(seeds), (text) => check(text, 'api')),
      { numRuns: runs(150) },
    );
  });

  it('a random value at a field kubeprism reads: the rejection names that field', async () => {
    const structured = fc.tuple(fc.constantFrom(...PATHS), oddValue);
    await fc.assert(
      fc.asyncProperty(structured, async ([at, value]) => {
        const doc = withValue(parseMachineConfig(seeds[0] as string).documents[0], at.split('.'), value);
        await check(stringify(doc), 'api', at);
      }),
      { numRuns: runs(150) },
    );
  });

  it('mutated configs, random documents and random text through the config file', async () => {
    const text = fc.oneof(
      mutated(seeds),
      fc.array(fc.jsonValue({ maxDepth: 3 }), { minLength: 1, maxLength: 3 }).map((docs) => docs.map((d) => stringify(d)).join('---\n')),
      fc.string({ unit: 'binary', maxLength: 200 }),
    );
    await fc.assert(
      fc.asyncProperty(text, (t) => check(t, 'file')),
      { numRuns: runs(100) },
    );
    // Still running, on the base config, still listening.
    expect(await f.agent.applyConfig(seeds[0] as string, 'property')).toMatchObject({ applied: true });
    await eventuallyResource(f.state, ptr(KubePrismStatusType, KUBEPRISM_STATUS_ID), (r) => expect(r?.spec.listening).toBe(true));
  });
});
