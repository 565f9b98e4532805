import { writeFile } from 'node:fs/promises';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidConfigError, machineConfigView, parseMembersFile, type MemberEntry } from '../../src/config/index.js';
import { computeEndpoints } from '../../src/controllers/kubeprism-endpoints.js';
import {
  DiscoveryStatusType,
  KUBEPRISM_ENDPOINTS_ID,
  KubePrismEndpointsType,
  MACHINE_CONFIG_ID,
  MachineConfigType,
  MEMBERS_FILE_DISCOVERY_ID,
  MemberType,
} from '../../src/resources/index.js';
import { kindOf, ptr } from '../../src/runtime/index.js';
import { v1alpha1Config } from '../harness/configs.js';
import { eventuallyResource } from '../harness/eventually.js';
import { refusingPort, type RefusingPort } from '../harness/ports.js';
import { LIVE_TYPES, resourceSnapshot, startAgent, type AgentFixture } from './fixture.js';
import { mutated, oddValue, pathRelated, runs, withValue } from '../harness/mutations.js';

// Bad members files fed to a running agent through its reload path. The members-file parser is the
// oracle: a file it rejects is rejected whole (every issue naming a path, a log line, not one member or
// endpoint touched); a file it accepts replaces the file-fed members exactly, and the endpoints follow.
// KubePrism is off here, so members with any address are never dialled.

let f: AgentFixture;
/** The cluster endpoint's port: held by the test, nothing listens there. */
let closed: RefusingPort | undefined;
let inputs = 0;
const tally = { rejected: 0, accepted: 0 };

const SEED = `# as discovery would report them
members:
  - id: cp-1
    hostname: cp-1.example.com
    machineType: init
    addresses: [127.0.0.211, "fd00::11"]
    controlPlane: {}
  - id: cp-2
    nodeId: 7nLZqKJxHfTkG5kR1bqG3S
    hostname: cp-2
    machineType: controlplane
    addresses:
      - 127.0.0.212
    controlPlane:
      apiServerPort: 5443
  - id: worker-1
    hostname: worker-1
    machineType: worker
    addresses:
      - 2001:db8::21
`;
/** The seed as a JSON members file too (members files may be YAML or JSON). */
const SEEDS = [SEED, JSON.stringify({ members: parseMembersFile(SEED).map((e) => ({ id: e.id, ...e.spec })) }, null, 2)];

/** Where structured mutations write. */
const PATHS = [
  'members',
  'members.0',
  'members.0.id',
  'members.0.hostname',
  'members.0.machineType',
  'members.0.addresses',
  'members.0.addresses.1',
  'members.1.nodeId',
  'members.1.controlPlane',
  'members.1.controlPlane.apiServerPort',
  'members.2.machineType',
  'members.2.controlPlane',
  'members.2.id',
];

/** Waits until the endpoints are the ones the members in force make. */
async function settled(): Promise<void> {
  const members = await f.state.list(kindOf(MemberType));
  const view = machineConfigView((await f.state.get(ptr(MachineConfigType, MACHINE_CONFIG_ID))).spec.documents);
  await eventuallyResource(f.state, ptr(KubePrismEndpointsType, KUBEPRISM_ENDPOINTS_ID), (r) =>
    expect(r?.spec.endpoints).toEqual(computeEndpoints(view, members)),
  );
}

async function check(raw: string, changed?: string): Promise<void> {
  const text = `${raw}\n# input ${++inputs}\n`; // unique: the reload never skips it as unchanged
  let expected: MemberEntry[] | undefined;
  try {
    expected = parseMembersFile(Buffer.from(text, 'utf8').toString('utf8'));
  } catch (err) {
    if (!(err instanceof InvalidConfigError)) throw err;
  }
  const before = await resourceSnapshot(f.state, LIVE_TYPES);
  const logFrom = f.logs.entries.length;
  await writeFile(f.membersPath, text);
  const result = await f.agent.reloadMembers();
  if (expected !== undefined) {
    tally.accepted++;
    expect(result).toMatchObject({ applied: true, upserted: expected.length });
    const members = await f.state.list(kindOf(MemberType));
    expect(members.map((m) => ({ id: m.metadata.id, spec: m.spec }))).toEqual(
      expected.map((e) => ({ id: e.id, spec: e.spec })).sort((a, b) => (a.id < b.id ? -1 : 1)),
    );
    expect((await f.state.get(ptr(DiscoveryStatusType, MEMBERS_FILE_DISCOVERY_ID))).spec).toMatchObject({
      phase: 'watching',
      members: expected.length,
    });
    await settled(); // before the next input: the endpoints follow the members
    return;
  }
  tally.rejected++;
  if (result === undefined || result.applied) throw new Error(`accepted what the parser rejects: ${JSON.stringify(text.slice(0, 300))}`);
  expect(result.issues.length).toBeGreaterThan(0);
  for (const issue of result.issues) {
    expect(typeof issue.path).toBe('string');
    expect(issue.message.length).toBeGreaterThan(0);
  }
  if (changed !== undefined)
    expect(
      result.issues.some((i) => pathRelated(i.path, changed)),
      `${changed} → ${JSON.stringify(result.issues)}`,
    ).toBe(true);
  expect(
    f.logs.matching({ component: 'members-source', msg: 'members file rejected; keeping the members in force' }, logFrom),
  ).toHaveLength(1);
  const status = (await f.state.get(ptr(DiscoveryStatusType, MEMBERS_FILE_DISCOVERY_ID))).spec;
  expect(status).toMatchObject({ phase: 'rejected', lastError: { code: 'KP_ERR_INVALID_CONFIG', message: result.message } });
  expect(await resourceSnapshot(f.state, LIVE_TYPES)).toEqual(before);
}

beforeAll(async () => {
  closed = await refusingPort(['127.0.0.201']);
  const endpoint = `https://127.0.0.201:${closed.port}`; // nothing listens there
  f = await startAgent({
    config: v1alpha1Config({ machineType: 'worker', endpoint, kubePrism: { enabled: false } }),
    members: SEED,
    watchDebounceMs: 600_000,
    watchPollMs: 600_000,
  });
  expect((await f.state.list(kindOf(MemberType))).map((m) => m.metadata.id)).toEqual(['cp-1', 'cp-2', 'worker-1']);
  await settled();
});

afterAll(async () => {
  console.info(
    `bad members files: ${tally.rejected} rejected whole (paths, a log line, no member or endpoint touched), ${tally.accepted} accepted and applied exactly`,
  );
  await f?.stop();
  closed?.release();
});

describe('reliability: bad members files fed to a running agent (fast-check)', () => {
  it('mutated members files', async () => {
    await fc.assert(
      fc.asyncProperty(mutated(SEEDS), (text) => check(text)),
      { numRuns: runs(100) },
    );
  });

  it('a random value at a member field: the rejection names that field', async () => {
    const seedDoc = { members: parseMembersFile(SEED).map((e) => ({ id: e.id, ...e.spec })) };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...PATHS), oddValue, async (at, value) => {
        await check(stringify(withValue(seedDoc, at.split('.'), value)), at);
      }),
      { numRuns: runs(100) },
    );
  });

  it('random member lists', async () => {
    const member = fc.record(
      {
        id: fc.oneof(fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,12}$/), fc.string({ maxLength: 6 })),
        hostname: fc.oneof(fc.domain(), fc.string({ maxLength: 4 })),
        machineType: fc.constantFrom('controlplane', 'worker', 'init', 'etcd'),
        addresses: fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 6 })), { maxLength: 3 }),
        controlPlane: fc.oneof(fc.constant({}), fc.record({ apiServerPort: fc.oneof(fc.integer({ min: -2, max: 70_000 }), fc.string()) })),
      },
      { requiredKeys: ['id'] },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(member, { maxLength: 5 }), (members) => check(stringify({ members }))),
      { numRuns: runs(60) },
    );
  });
});
