import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generate } from 'selfsigned';
import { afterEach, describe, expect, it } from 'vitest';
import { DISCOVERY_CODES } from '../../src/discovery/index.js';
import { MemberType } from '../../src/resources/index.js';
import { kindOf } from '../../src/runtime/index.js';
import { testCertificate } from '../harness/certs.js';
import { apiServerSlice, FakeK8sApi, SliceStore } from '../harness/fake-k8s-api.js';
import { writeKubeconfig } from '../harness/kubeconfig.js';
import { randomLoopback, refusingPort, type RefusingPort } from '../harness/ports.js';
import { eventuallyMembers, eventuallyStatus, startNode, tempDir, TOKEN, type TestNode } from './helpers.js';

// Expectations: discovery keeps working through KubePrism when the external endpoint dies; with no API
// server reachable the members stay (past the removal delay) and the status says why; a restarted server
// is re-listed; credentials come from the kubeconfig's files, re-read on each attempt; a slow list times
// out and is retried; a source that cannot start says what it waits for.

let node: TestNode | undefined;
const apis: FakeK8sApi[] = [];
const holds: RefusingPort[] = [];
afterEach(async () => {
  await node?.stop();
  node = undefined;
  await Promise.all(apis.splice(0).map((a) => a.close()));
  holds.splice(0).forEach((h) => h.release());
});

/** A port on `hosts` where nothing listens, held by the test until it ends (see refusingPort). */
async function unreachable(hosts: string[], port?: number): Promise<number> {
  const hold = await refusingPort(hosts, port);
  holds.push(hold);
  return hold.port;
}

async function fake(options: Parameters<typeof FakeK8sApi.start>[0]): Promise<FakeK8sApi> {
  const api = await FakeK8sApi.start(options);
  apis.push(api);
  return api;
}

async function tokenKubeconfig(dir: string): Promise<string> {
  return writeKubeconfig(dir, { ca: (await testCertificate()).cert, token: TOKEN, tlsServerName: 'kubernetes' });
}

describe('Kubernetes discovery when API servers go away', () => {
  it('follows the slices through another API server when the external endpoint dies, keeps members when none answers, and re-lists a restarted one', async () => {
    const store = new SliceStore();
    // a is restarted on its port: on an address of its own, where nothing else can have taken it meanwhile.
    const a = await fake({ name: 'a', host: randomLoopback(), store, token: TOKEN });
    const b = await fake({ name: 'b', host: '127.0.0.3', store, token: TOKEN });
    const aId = `k8s-${a.host}`;
    store.set(apiServerSlice('kubernetes-a', [{ address: a.host }], a.port));
    store.set(apiServerSlice('kubernetes-b', [{ address: '127.0.0.3' }], b.port));
    const dir = await tempDir();
    node = await startNode(dir, { endpoint: `https://${a.host}:${a.port}`, kubeconfig: await tokenKubeconfig(dir) });
    const n = node;
    await eventuallyMembers(n, { [aId]: a.port, 'k8s-127.0.0.3': b.port });
    await eventuallyStatus(n, (s) => expect([s.phase, a.openWatches + b.openWatches]).toEqual(['watching', 1]));

    // The external endpoint (a) dies: the dropped watch re-lists through KubePrism, which dials b.
    await a.stop();
    await eventuallyStatus(n, (s) =>
      expect([s.phase, s.lastError?.code, b.openWatches]).toEqual(['watching', DISCOVERY_CODES.watchBroken, 1]),
    );
    await unreachable(['127.0.0.24'], b.port); // a member that never answers
    store.set(apiServerSlice('kubernetes-b', [{ address: '127.0.0.3' }, { address: '127.0.0.24' }], b.port));
    const members = await eventuallyMembers(n, { [aId]: a.port, 'k8s-127.0.0.3': b.port, 'k8s-127.0.0.24': b.port });

    // No API server answers: members stay beyond the removal delay (300 ms); the status says why.
    await b.stop();
    const downAt = Date.now();
    const down = await eventuallyStatus(n, (s) => {
      expect(s.lastError?.code).toBe(DISCOVERY_CODES.unreachable);
      expect(Date.parse(s.lastError!.time)).toBeGreaterThan(downAt + 600);
      return s;
    });
    expect(down).toMatchObject({ phase: 'backoff', members: 3, leaving: 0 });
    expect(Date.parse(down.lastSyncTime!)).toBeLessThanOrEqual(downAt); // the last sync is the one before the outage
    expect(await n.agent.state.list(kindOf(MemberType))).toEqual(members);

    // The external endpoint comes back on the same address: re-listed, nothing lost or rewritten.
    const lists = a.seen('list').length;
    await a.restart();
    await eventuallyStatus(n, (s) => expect([s.phase, a.openWatches]).toEqual(['watching', 1]));
    expect(a.seen('list').length).toBe(lists + 1);
    expect(await n.agent.state.list(kindOf(MemberType))).toEqual(members);
  });

  it('uses the kubeconfig CA, client certificate and tls-server-name from files, re-read on every attempt', async () => {
    const { cert, key } = await testCertificate();
    const api = await fake({ name: 'api', host: '127.0.0.2', clientCert: new X509Certificate(cert).fingerprint256 });
    const member = await unreachable(['127.0.0.21']);
    api.store.set(apiServerSlice('kubernetes', [{ address: '127.0.0.21' }], member));
    const dir = await tempDir();
    const files = { caFile: path.join(dir, 'ca.crt'), certFile: 'client.crt', keyFile: path.join(dir, 'client.key') };
    await Promise.all([writeFile(files.caFile, cert), writeFile(path.join(dir, files.certFile), cert), writeFile(files.keyFile, key)]);
    const kubeconfig = await writeKubeconfig(dir, { ...files, tlsServerName: 'kubernetes' });
    node = await startNode(dir, { endpoint: `https://127.0.0.2:${api.port}`, kubeconfig });
    await eventuallyMembers(node, { 'k8s-127.0.0.21': member });
    expect(api.seen('list').map((r) => [r.clientCert, r.authorization, r.serverName])).toEqual([
      [new X509Certificate(cert).fingerprint256, undefined, 'kubernetes'],
    ]);

    // The CA file now holds another CA: the next attempt refuses the server, the member stays.
    const other = await generate([{ name: 'commonName', value: 'another-ca' }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' });
    await writeFile(files.caFile, other.cert);
    api.dropWatches();
    await eventuallyStatus(node, (s) => expect([s.phase, s.lastError?.code]).toEqual(['backoff', DISCOVERY_CODES.tls]));
    await eventuallyMembers(node, { 'k8s-127.0.0.21': member });
  });

  it('retries a list slower than the request timeout, and takes a slow one within it', async () => {
    const api = await fake({ name: 'api', host: '127.0.0.2', token: TOKEN });
    api.store.set(apiServerSlice('kubernetes', [{ address: '127.0.0.21' }], await unreachable(['127.0.0.21'])));
    api.listDelayMs = 1_000;
    const dir = await tempDir();
    node = await startNode(
      dir,
      { endpoint: `https://127.0.0.2:${api.port}`, kubeconfig: await tokenKubeconfig(dir) },
      { requestTimeoutMs: 500 },
    );
    await eventuallyStatus(node, (s) => expect(s.lastError?.code).toBe(DISCOVERY_CODES.timeout));
    api.listDelayMs = 200;
    await eventuallyStatus(node, (s) => expect([s.phase, s.members]).toEqual(['watching', 1]));
  });

  it('says what it waits for: credentials, KubePrism; and why its kubeconfig is unusable', async () => {
    const dir = await tempDir();
    const endpoint = `https://127.0.0.2:${await unreachable(['127.0.0.2'])}`; // nothing answers there
    node = await startNode(dir, { endpoint });
    const n = node;
    await eventuallyStatus(n, (s) =>
      expect(s).toMatchObject({
        enabled: true,
        phase: 'waiting',
        waitingFor: expect.stringMatching(/^credentials: set kubernetesDiscovery.kubeconfig/),
      }),
    );
    const kubeconfig = path.join(dir, 'missing.conf');
    await n.configure({ endpoint, kubeconfig, kubePrism: false });
    await eventuallyStatus(n, (s) =>
      expect(s).toMatchObject({ phase: 'waiting', waitingFor: expect.stringMatching(/^KubePrism: it is disabled/) }),
    );
    await n.configure({ endpoint, kubeconfig });
    await eventuallyStatus(n, (s) => {
      expect(s).toMatchObject({
        phase: 'backoff',
        server: `https://127.0.0.1:${n.port}`,
        lastError: { code: DISCOVERY_CODES.credentials },
      });
      expect(s.lastError?.message).toContain(kubeconfig);
    });
    await writeKubeconfig(dir, { token: TOKEN, user: { exec: { command: 'aws' } } }, 'missing.conf');
    await eventuallyStatus(n, (s) => expect(s.lastError?.message).toMatch(/exec is not supported/));
  });
});
