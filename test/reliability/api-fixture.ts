import { isIP } from 'node:net';
import fc from 'fast-check';
import { expect } from 'vitest';
import { ApiServer, formatApiAddress } from '../../src/api/index.js';
import { machineConfigView, memberSpecSchema } from '../../src/config/index.js';
import { computeEndpoints } from '../../src/controllers/kubeprism-endpoints.js';
import {
  KUBELET_ID,
  KUBEPRISM_ENDPOINTS_ID,
  KUBEPRISM_STATUS_ID,
  KubeletConfigType,
  KubePrismEndpointsType,
  KubePrismStatusType,
  MACHINE_CONFIG_ID,
  MachineConfigType,
  MemberType,
} from '../../src/resources/index.js';
import { kindOf, ptr } from '../../src/runtime/index.js';
import { eventuallyResource } from '../harness/eventually.js';
import { FakeApiServer } from '../harness/fake-apiserver.js';
import { fixedPort, loopback } from '../harness/ports.js';
import { balancedConfig, startAgent, type AgentFixture } from './fixture.js';

// A running agent with its balancer up (tcp checks every 300 ms in front of one fake API server) and its
// debug API on an ephemeral loopback port, for the API-input properties; plus the member specs they send.

/** The agent, its API, and the one real upstream. */
export interface ApiAgent {
  readonly f: AgentFixture;
  readonly api: ApiServer;
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  /** The KubePrism port. */
  readonly port: number;
  readonly upstream: FakeApiServer;
  /** The config the agent started with (and returns to). */
  readonly config: string;
  stop(): Promise<void>;
}

/** Starts it all and waits until the chain settled (the kubelet points at KubePrism). */
export async function startApiAgent(n: number): Promise<ApiAgent> {
  // Whatever started is stopped again, also when a later step fails.
  const started: Array<() => Promise<void>> = [];
  const stop = async (): Promise<void> => {
    for (const undo of started.splice(0).reverse()) await undo();
  };
  let f: AgentFixture;
  let api: ApiServer;
  let upstream: FakeApiServer;
  let port: number;
  let config: string;
  try {
    upstream = await FakeApiServer.start({ name: `api-${n}`, host: loopback(n) });
    started.push(() => upstream.stop());
    port = await fixedPort();
    config = balancedConfig({ port, endpoint: upstream.endpoint, mode: 'tcp', intervalMs: 300, timeoutMs: 200 });
    f = await startAgent({ config, watchDebounceMs: 600_000, watchPollMs: 600_000 });
    started.push(() => f.stop());
    api = await ApiServer.listen({ backend: f.agent, address: '127.0.0.1:0' });
    started.push(() => api.close());
    await eventuallyResource(f.state, ptr(KubePrismStatusType, KUBEPRISM_STATUS_ID), (r) =>
      expect(r?.spec).toMatchObject({ listening: true, healthy: true }),
    );
    await eventuallyResource(f.state, ptr(KubeletConfigType, KUBELET_ID), (r) => expect(r?.spec.server).toBe(`https://127.0.0.1:${port}`));
  } catch (err) {
    await stop();
    throw err;
  }
  return { f, api, base: `http://${formatApiAddress(api.address)}`, port, upstream, config, stop };
}

/** Waits until the endpoints are the ones the config and members in force make. */
export async function endpointsSettled(f: AgentFixture): Promise<void> {
  const members = await f.state.list(kindOf(MemberType));
  const view = machineConfigView((await f.state.get(ptr(MachineConfigType, MACHINE_CONFIG_ID))).spec.documents);
  await eventuallyResource(f.state, ptr(KubePrismEndpointsType, KUBEPRISM_ENDPOINTS_ID), (r) =>
    expect(r?.spec.endpoints).toEqual(computeEndpoints(view, members)),
  );
}

/** True when the schema would take `spec` with an address outside 127/8: such a member would be dialled. */
export function validButNotLoopback(spec: unknown): boolean {
  const parsed = memberSpecSchema.safeParse(spec);
  return parsed.success && parsed.data.addresses.some((a) => isIP(a) !== 4 || !a.startsWith('127.'));
}

/**
 * Valid member specs, every address on 127.0.0.201-254 where no test listens (so their health checks are
 * refused at once and never reach another test's server).
 */
export const validMemberSpec: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    fc.stringMatching(/^[a-z0-9]{1,12}$/),
    fc.domain(),
    fc.constantFrom('controlplane', 'init', 'worker'),
    fc.uniqueArray(fc.integer({ min: 201, max: 254 }), { minLength: 1, maxLength: 3 }),
    fc.option(fc.integer({ min: 1, max: 65_535 }), { nil: undefined }),
  )
  .map(([nodeId, hostname, machineType, hosts, apiServerPort]) => ({
    nodeId,
    hostname,
    machineType,
    addresses: hosts.map((h) => `127.0.0.${h}`),
    ...(machineType !== 'worker' ? { controlPlane: apiServerPort === undefined ? {} : { apiServerPort } } : {}),
  }));

/** Member-like junk: wrong types, bad addresses, missing fields; never a valid spec that would dial out. */
export const junkMemberSpec: fc.Arbitrary<unknown> = fc
  .oneof(
    fc.record(
      {
        nodeId: fc.oneof(fc.string(), fc.integer(), fc.constant(' padded ')),
        hostname: fc.oneof(fc.string(), fc.constant('')),
        machineType: fc.oneof(fc.constantFrom('controlplane', 'worker', 'etcd', 'Worker'), fc.string(), fc.constant(null)),
        addresses: fc.oneof(
          fc.array(fc.oneof(fc.constantFrom('127.0.0.250', '127.0.0.300', 'localhost', '::g'), fc.string())),
          fc.string(),
        ),
        controlPlane: fc.oneof(fc.constant({}), fc.record({ apiServerPort: fc.oneof(fc.integer(), fc.string()) }), fc.jsonValue()),
        extra: fc.jsonValue({ maxDepth: 1 }),
      },
      { requiredKeys: [] },
    ),
    fc.jsonValue({ maxDepth: 2 }),
  )
  .filter((spec) => !validButNotLoopback(spec));
