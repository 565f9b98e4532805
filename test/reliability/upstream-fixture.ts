import type { TLSSocket } from 'node:tls';
import { expect, onTestFinished } from 'vitest';
import { KUBEPRISM_STATUS_ID, KubePrismStatusType, KubePrismUpstreamType, upstreamId } from '../../src/resources/index.js';
import { kindOf, ptr } from '../../src/runtime/index.js';
import { eventuallyList, eventuallyResource } from '../harness/eventually.js';
import { FakeApiServer, httpsGet, tlsConnectTo } from '../harness/fake-apiserver.js';
import { fixedPort, loopback } from '../harness/ports.js';
import { balancedConfig, controlPlaneMember, startAgent, type Address, type AgentFixture } from './fixture.js';

// Shared by the upstream-fault tests: an in-process agent balancing over test servers, and clients.

export const statusPtr = ptr(KubePrismStatusType, KUBEPRISM_STATUS_ID);
export const upstreamPtr = (s: Address) => ptr(KubePrismUpstreamType, upstreamId(s.host, s.port));
export const addressOf = (s: Address): string => upstreamId(s.host, s.port);

/** Check timing of a {@link balancing} agent (readyz). */
export interface CheckTiming {
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

/**
 * An agent whose cluster endpoint is `servers[0]` and whose members are the others; resolves once all
 * are healthy. On failure the test prints the agent's own account (warnings, health changes, closings).
 */
export async function balancing(servers: Address[], timing: CheckTiming): Promise<{ f: AgentFixture; port: number }> {
  const port = await fixedPort();
  const f = await startAgent({ config: balancedConfig({ port, endpoint: servers[0] as Address, ...timing }) });
  onTestFinished(() => f.stop());
  onTestFinished(({ task }) => {
    if (task.result?.state !== 'fail') return;
    const lines = f.logs.entries.filter((e) => e.level >= 40 || /healthy|closing|listening/.test(e.msg));
    console.error(
      lines
        .map(
          (e) =>
            `${e.component ?? ''}: ${e.msg} ${JSON.stringify({ ...e, level: undefined, time: undefined, msg: undefined, component: undefined })}`,
        )
        .join('\n'),
    );
  });
  for (const [i, server] of servers.slice(1).entries()) await f.agent.putMember(`cp-${i}`, controlPlaneMember(`cp-${i}`, server));
  const want = servers.map((s) => [addressOf(s), true]).sort();
  await eventuallyList(f.state, kindOf(KubePrismUpstreamType), (items) =>
    expect(items.map((u) => [u.metadata.id, u.spec.healthy]).sort()).toEqual(want),
  );
  await eventuallyResource(f.state, statusPtr, (r) => expect(r?.spec).toMatchObject({ listening: true, healthy: true }));
  return { f, port };
}

/**
 * Waits until `preferred` is healthy and in the same latency tier as `other`, or a better one. Servers
 * 30 ms away share a tier, but a busy machine can make a check read slower for a while: traffic follows
 * the tiers, so a test that expects traffic on `preferred` first waits for the tiers to say so.
 */
export async function usableAsOthers(f: AgentFixture, preferred: Address, other: Address): Promise<void> {
  await eventuallyList(
    f.state,
    kindOf(KubePrismUpstreamType),
    (items) => {
      const p = items.find((u) => u.metadata.id === addressOf(preferred))?.spec;
      const o = items.find((u) => u.metadata.id === addressOf(other))?.spec;
      expect(p?.healthy).toBe(true);
      expect(p?.tier ?? 9).toBeLessThanOrEqual(o?.tier ?? 5);
    },
    20_000,
  );
}

/**
 * Fake API servers 30 ms away on 127.0.0.n (or the host given: a `randomLoopback()` one for a server
 * that is restarted on its port), each stopped when the test ends (also if a later one fails to start).
 */
export async function fakes(...specs: Array<[string, number | string]>): Promise<FakeApiServer[]> {
  const servers: FakeApiServer[] = [];
  for (const [name, n] of specs) {
    const server = await FakeApiServer.start({ name, host: typeof n === 'string' ? n : loopback(n), latencyMs: 30 });
    onTestFinished(() => server.stop());
    servers.push(server);
  }
  return servers;
}

/** Who answers `GET /version` through the balancer (a fresh connection each time). */
export async function ask(port: number): Promise<string> {
  return (JSON.parse((await httpsGet('127.0.0.1', port, '/version', 3_000)).body) as { name: string }).name;
}

/** A long-lived client connection (a watch): one request over it says which upstream it reached. */
export async function longLived(port: number): Promise<{ socket: TLSSocket; upstream: string; closed: Promise<void> }> {
  const socket = await tlsConnectTo('127.0.0.1', port);
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const upstream = await new Promise<string>((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      const name = /"name":"([^"]+)"/.exec(text)?.[1];
      if (name === undefined) return;
      socket.off('data', onData);
      resolve(name);
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed before answering: ${text}`)));
    socket.write('GET /version HTTP/1.1\r\nhost: kubernetes\r\n\r\n');
  });
  return { socket, upstream, closed };
}
