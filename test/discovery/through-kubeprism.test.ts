import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import type { KubernetesMembersOptions } from '../../src/controllers/index.js';
import { DISCOVERY_CODES } from '../../src/discovery/index.js';
import {
  KUBEPRISM_ENDPOINTS_ID,
  KubePrismEndpointsType,
  KubePrismUpstreamType,
  MEMBER_SOURCE_LABEL,
  MemberType,
} from '../../src/resources/index.js';
import { kindOf, ptr } from '../../src/runtime/index.js';
import { testCertificate } from '../harness/certs.js';
import { eventuallyResource } from '../harness/eventually.js';
import { apiServerSlice, FakeK8sApi, SELECTOR } from '../harness/fake-k8s-api.js';
import { writeKubeconfig } from '../harness/kubeconfig.js';
import { refusingPort, type RefusingPort } from '../harness/ports.js';
import { eventuallyMembers, eventuallySeen, eventuallyStatus, startNode, tempDir, TOKEN, type TestNode } from './helpers.js';

// Expectations: discovery lists, then watches the default/kubernetes EndpointSlices through the local
// KubePrism listener; each ready endpoint becomes a member at once and leaves only after the removal
// delay (300 ms here); a server-ended watch resumes from the last resourceVersion; anything broken
// re-lists, and the members stay meanwhile.

let node: TestNode | undefined;
let api: FakeK8sApi | undefined;
/** The API servers' port in the slices, then the one they move to: held by the test, nothing listens there. */
let memberPort: number;
let movedPort: number;
const holds: RefusingPort[] = [];
afterEach(async () => {
  holds.splice(0).forEach((h) => h.release());
  await node?.stop();
  await api?.close();
  node = undefined;
  api = undefined;
});

/**
 * A fake API server on 127.0.0.2 listing API servers on 127.0.0.21-23, and a node pointed at it. The
 * listed ones refuse connections (the balancer's checks fail, its traffic stays on the fake): their ports
 * are held by the test, never a fixed one that something else on the machine may be listening on.
 */
async function start(
  prepare?: (agent: Agent) => Promise<void>,
  options: KubernetesMembersOptions = {},
): Promise<{ node: TestNode; api: FakeK8sApi }> {
  const hosts = ['127.0.0.21', '127.0.0.22', '127.0.0.23', '127.0.0.99'];
  holds.push(await refusingPort(hosts), await refusingPort(hosts));
  [memberPort, movedPort] = holds.map((h) => h.port) as [number, number];
  api = await FakeK8sApi.start({ name: 'api', host: '127.0.0.2', token: TOKEN });
  api.store.set(
    apiServerSlice(
      'kubernetes',
      [{ address: '127.0.0.21' }, { address: '127.0.0.22' }, { address: '127.0.0.23', ready: false }],
      memberPort,
    ),
  );
  const dir = await tempDir();
  const { cert } = await testCertificate();
  const kubeconfig = await writeKubeconfig(dir, { ca: cert, token: TOKEN, tlsServerName: 'kubernetes' });
  node = await startNode(dir, { endpoint: `https://127.0.0.2:${api.port}`, kubeconfig }, options, prepare);
  return { node, api };
}

describe('Kubernetes discovery through the real balancer', () => {
  it('turns ready endpoints into members at once, follows changes, and removes one only after the removal delay', async () => {
    const { node, api } = await start();
    const [first] = await eventuallyMembers(node, { 'k8s-127.0.0.21': memberPort, 'k8s-127.0.0.22': memberPort });
    expect(first?.metadata).toMatchObject({ owner: 'KubernetesMembersController', labels: { [MEMBER_SOURCE_LABEL]: 'kubernetes' } });
    expect(first?.spec).toEqual({
      nodeId: '127.0.0.21',
      hostname: '127.0.0.21',
      machineType: 'controlplane',
      addresses: ['127.0.0.21'],
      controlPlane: { apiServerPort: memberPort },
    });
    const listed = String(api.store.resourceVersion);
    await eventuallyStatus(node, (s) =>
      expect(s).toMatchObject({
        enabled: true,
        phase: 'watching',
        members: 2,
        leaving: 0,
        relists: 0,
        resourceVersion: listed,
        server: `https://127.0.0.1:${node.port}`,
      }),
    );
    // The members reach the balancer unchanged, after the cluster endpoint.
    await eventuallyResource(node.agent.state, ptr(KubePrismEndpointsType, KUBEPRISM_ENDPOINTS_ID), (r) =>
      expect(r?.spec.endpoints.map((e) => [e.host, e.port, e.source])).toEqual([
        ['127.0.0.2', api.port, 'clusterEndpoint'],
        ['127.0.0.21', memberPort, 'member'],
        ['127.0.0.22', memberPort, 'member'],
      ]),
    );
    // The watch runs through the balancer: it is the one connection KubePrism holds to the API server.
    await eventuallyResource(node.agent.state, ptr(KubePrismUpstreamType, `127.0.0.2:${api.port}`), (r) =>
      expect(r?.spec.activeConnections).toBe(1),
    );
    const [list, watch] = [api.seen('list'), api.seen('watch')];
    expect(list.map((r) => [r.authorization, r.serverName, Object.fromEntries(r.query)])).toEqual([
      [`Bearer ${TOKEN}`, 'kubernetes', { labelSelector: SELECTOR }],
    ]);
    expect(watch.map((r) => Object.fromEntries(r.query))).toEqual([
      { labelSelector: SELECTOR, watch: '1', resourceVersion: listed, allowWatchBookmarks: 'true', timeoutSeconds: '30' },
    ]);

    // .23 turns ready, .22 leaves, the port moves: arrivals and updates at once, .22 only after 300 ms.
    const destroyed = new Map<string, number>();
    const sub = node.agent.state.watchKind(kindOf(MemberType)).subscribe((e) => {
      if (e.type === 'destroyed') destroyed.set(e.resource.metadata.id, Date.now());
    });
    const leftAt = Date.now();
    api.store.set(apiServerSlice('kubernetes', [{ address: '127.0.0.21' }, { address: '127.0.0.23', ready: null }], movedPort));
    await eventuallyMembers(node, { 'k8s-127.0.0.21': movedPort, 'k8s-127.0.0.22': memberPort, 'k8s-127.0.0.23': movedPort });
    await eventuallyStatus(node, (s) => expect(s).toMatchObject({ members: 2, leaving: 1 }));
    await eventuallyMembers(node, { 'k8s-127.0.0.21': movedPort, 'k8s-127.0.0.23': movedPort });
    expect(destroyed.get('k8s-127.0.0.22')! - leftAt).toBeGreaterThanOrEqual(300);

    // An API server that leaves and comes back within the delay never drops out.
    api.store.set(apiServerSlice('kubernetes', [{ address: '127.0.0.23' }], movedPort));
    await eventuallyStatus(node, (s) => expect(s.leaving).toBe(1));
    api.store.set(apiServerSlice('kubernetes', [{ address: '127.0.0.21' }, { address: '127.0.0.23' }], movedPort));
    await eventuallyStatus(node, (s) => expect(s).toMatchObject({ members: 2, leaving: 0 }));
    expect(destroyed.has('k8s-127.0.0.21')).toBe(false);
    sub.unsubscribe();

    // Switched off: its members go at once, the status says so.
    await node.configure({ endpoint: `https://127.0.0.2:${api.port}`, discovery: false });
    await eventuallyMembers(node, {});
    await eventuallyStatus(node, (s) => expect(s).toMatchObject({ enabled: false, phase: 'disabled', members: 0 }));
  });

  it('resumes a server-ended watch from the last resourceVersion (events and bookmarks) without re-listing', async () => {
    const { node, api } = await start();
    await eventuallyStatus(node, (s) => expect(s.phase).toBe('watching'));
    api.store.set(
      apiServerSlice('kubernetes', [{ address: '127.0.0.21' }, { address: '127.0.0.22' }, { address: '127.0.0.23' }], memberPort),
    );
    const afterEvent = String(api.store.resourceVersion);
    await eventuallyStatus(node, (s) => expect(s.resourceVersion).toBe(afterEvent));
    // Other objects moved the cluster's resourceVersion on; a bookmark carries it.
    api.store.resourceVersion += 5;
    api.bookmark();
    const bookmarked = String(api.store.resourceVersion);
    await eventuallyStatus(node, (s) => expect(s.resourceVersion).toBe(bookmarked));
    api.endWatches();
    await eventuallySeen(api, () => expect(api.seen('watch')).toHaveLength(2));
    expect(api.seen('watch')[1]?.query.get('resourceVersion')).toBe(bookmarked);
    expect(api.seen('list')).toHaveLength(1);
    await eventuallyStatus(node, (s) => expect(s).toMatchObject({ phase: 'watching', relists: 0, members: 3 }));
    await eventuallyMembers(node, { 'k8s-127.0.0.21': memberPort, 'k8s-127.0.0.22': memberPort, 'k8s-127.0.0.23': memberPort });
  });

  it('leaves a member id that a file or the API already holds alone, and says so', async () => {
    // Built once start() has the ports.
    const held = () => ({
      nodeId: 'cp-2',
      hostname: 'cp-2',
      machineType: 'controlplane' as const,
      addresses: ['127.0.0.99'],
      controlPlane: { apiServerPort: memberPort },
    });
    const { node } = await start(async (agent) => void (await agent.putMember('k8s-127.0.0.22', held(), 'file')));
    await eventuallyStatus(node, (s) => expect(s).toMatchObject({ phase: 'watching', members: 2, conflicts: ['k8s-127.0.0.22'] }));
    const [discovered, kept] = await eventuallyMembers(node, { 'k8s-127.0.0.21': memberPort, 'k8s-127.0.0.22': memberPort });
    expect([discovered?.metadata.owner, kept?.metadata.owner, kept?.metadata.labels[MEMBER_SOURCE_LABEL], kept?.spec.addresses]).toEqual([
      'KubernetesMembersController',
      '',
      'file',
      ['127.0.0.99'],
    ]);
  });

  it('re-lists after 410 Gone (ERROR event, HTTP, compacted history), an ERROR event, garbage, a bad list or a dropped watch; members stay', async () => {
    // Nine failures in a row: a short backoff keeps the test quick.
    const { node, api } = await start(undefined, { backoff: { initialMs: 20, maxMs: 50, jitter: 0.1 } });
    const members = await eventuallyMembers(node, { 'k8s-127.0.0.21': memberPort, 'k8s-127.0.0.22': memberPort });
    await eventuallyStatus(node, (s) => expect(s.phase).toBe('watching'));
    const cases: Array<[string, () => void, string]> = [
      ['ERROR 410', () => api.sendError(410), DISCOVERY_CODES.gone],
      ['HTTP 410 on the resumed watch', () => (api.watchStatuses.push(410), api.endWatches()), DISCOVERY_CODES.gone],
      ['history compacted', () => (api.store.compact(), api.endWatches()), DISCOVERY_CODES.gone],
      ['ERROR 500', () => api.sendError(500), DISCOVERY_CODES.watchError],
      ['not JSON', () => api.sendRaw('{"type": "ADDED", "object": nonsense}\n'), DISCOVERY_CODES.badResponse],
      [
        'wrong shape',
        () => api.sendRaw('{"type":"ADDED","object":{"metadata":{"name":"x"},"addressType":"IPv4","endpoints":"none"}}\n'),
        DISCOVERY_CODES.badResponse,
      ],
      ['line too long', () => api.sendRaw('x'.repeat(1024 * 1024 + 1)), DISCOVERY_CODES.limit],
      ['dropped watch', () => api.dropWatches(), DISCOVERY_CODES.watchBroken],
      ['garbage list', () => (api.listBodies.push('{"items": 5}'), api.sendError(410)), DISCOVERY_CODES.badResponse],
    ];
    for (const [name, act, code] of cases) {
      const lists = api.seen('list').length;
      const watches = api.seen('watch').length;
      act();
      await eventuallyStatus(node, (s) => {
        expect([name, s.lastError?.code]).toEqual([name, code]);
        expect([name, s.phase, api.openWatches]).toEqual([name, 'watching', 1]);
        expect(api.seen('watch').length).toBeGreaterThan(watches);
      });
      expect([name, api.seen('list').length > lists]).toEqual([name, true]);
      // Nothing was rewritten: same members, same versions.
      expect(await node.agent.state.list(kindOf(MemberType))).toEqual(members);
    }
    await eventuallyStatus(node, (s) => expect(s.relists).toBe(api.seen('list').length - 2)); // one garbage list
  });
});
