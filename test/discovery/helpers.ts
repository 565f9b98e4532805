import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fromEvent } from 'rxjs';
import { expect } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import type { MemberSpec } from '../../src/config/index.js';
import type { KubernetesMembersOptions } from '../../src/controllers/index.js';
import { DiscoveryStatusType, KUBERNETES_DISCOVERY_ID, MemberType, type DiscoveryStatusSpec } from '../../src/resources/index.js';
import { kindOf, ptr, type Resource } from '../../src/runtime/index.js';
import { v1alpha1Config } from '../harness/configs.js';
import { eventually, eventuallyList, eventuallyResource } from '../harness/eventually.js';
import type { FakeK8sApi } from '../harness/fake-k8s-api.js';
import { fixedPort } from '../harness/ports.js';

/** The token the fake API servers accept in these tests. */
export const TOKEN = 'kubeprism-discovery-test-token';

/** Short timings: every retry and removal in these tests takes a fraction of a second. */
export const DISCOVERY_OPTIONS: KubernetesMembersOptions = {
  backoff: { initialMs: 50, maxMs: 200, jitter: 0.1 },
  watchTimeoutSeconds: 30,
  requestTimeoutMs: 1_000,
};

/** What the node's machine config says about discovery. */
export interface NodeSettings {
  /** The cluster endpoint the balancer starts from (`https://host:port`). */
  endpoint: string;
  kubeconfig?: string;
  removalDelay?: string;
  /** Talos's switch (default on). */
  discovery?: boolean;
  kubePrism?: boolean;
}

/** An agent on a worker node with the real balancer on a loopback port of its own. */
export interface TestNode {
  readonly agent: Agent;
  readonly port: number;
  readonly dir: string;
  /** Applies the machine config again with other settings. */
  configure(settings: NodeSettings): Promise<void>;
  stop(): Promise<void>;
}

/** The machine config for `settings`, on `port`; TCP health checks keep the balancer's traffic off the fakes' logs. */
export function nodeConfig(port: number, s: NodeSettings): string {
  return v1alpha1Config({
    machineType: 'worker',
    endpoint: s.endpoint,
    kubePrism: {
      enabled: s.kubePrism ?? true,
      port,
      healthCheck: { mode: 'tcp', interval: '200ms', timeout: '150ms' },
      kubernetesDiscovery: {
        ...(s.kubeconfig !== undefined ? { kubeconfig: s.kubeconfig } : {}),
        removalDelay: s.removalDelay ?? '300ms',
      },
    },
    discovery: { enabled: s.discovery ?? true },
  });
}

/** A temporary directory for kubeconfigs and the agent's output. */
export function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'kubeprism-discovery-'));
}

/** Starts an agent (real controllers, real balancer), runs `prepare`, then applies the config for `settings`. */
export async function startNode(
  dir: string,
  settings: NodeSettings,
  options: KubernetesMembersOptions = {},
  prepare?: (agent: Agent) => Promise<void>,
): Promise<TestNode> {
  // KubePrism always listens on 127.0.0.1: a port told in advance (see fixedPort).
  const port = await fixedPort();
  const agent = await Agent.create({
    outputDir: path.join(dir, 'out'),
    backoff: { initialMs: 10, maxMs: 100, multiplier: 2, jitter: 0 },
    balancer: { drainTimeoutMs: 100, connectionRefreshMs: 50, balancer: { listenBackoff: { initialMs: 20, maxMs: 100 } } },
    kubernetesDiscovery: { ...DISCOVERY_OPTIONS, ...options },
  });
  await agent.start();
  await prepare?.(agent);
  const configure = async (s: NodeSettings): Promise<void> => {
    const result = await agent.applyConfig(nodeConfig(port, s));
    expect(result).toMatchObject({ applied: true });
  };
  await configure(settings);
  return {
    agent,
    port,
    dir,
    configure,
    async stop() {
      await agent.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The discovery status pointer. */
export const statusPtr = ptr(DiscoveryStatusType, KUBERNETES_DISCOVERY_ID);

/** Waits until the discovery status passes `check` (re-checked on each of its changes). */
export function eventuallyStatus<T>(node: TestNode, check: (spec: DiscoveryStatusSpec) => T, timeoutMs?: number): Promise<T> {
  return eventuallyResource(
    node.agent.state,
    statusPtr,
    (r) => {
      expect(r).toBeDefined();
      return check(r!.spec);
    },
    timeoutMs,
  );
}

/** Waits until the members (id → API port) equal `want`; returns them. */
export function eventuallyMembers(node: TestNode, want: Record<string, number>): Promise<Array<Resource<MemberSpec>>> {
  return eventuallyList(node.agent.state, kindOf(MemberType), (items) => {
    expect(Object.fromEntries(items.map((m) => [m.metadata.id, m.spec.controlPlane?.apiServerPort]))).toEqual(want);
    return items;
  });
}

/** Waits until `check` passes, re-checked on every request the fake API server receives. */
export function eventuallySeen<T>(api: FakeK8sApi, check: () => T): Promise<T> {
  return eventually(fromEvent(api, 'request'), check);
}
