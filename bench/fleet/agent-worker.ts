/**
 * A fleet simulator worker process: several agents, each a real {@link LoadBalancer} on its own
 * loopback port with its real health checks, and each with its clients (long-lived TLS connections
 * sending a small request every few seconds through it, the way kubelet and kube-proxy do).
 */
import { LoadBalancer, type LoadBalancerOptionsInput } from '../../src/loadbalancer/index.js';
import { serveOps } from '../lib/ipc.js';
import { sleep } from '../lib/stats.js';
import { CLIENT_SNI } from './api-server.js';
import { FleetClient, newCounters, type ClientCounters } from './client.js';
import { watchLoopHealth, type LoopHealth } from './loop-health.js';

/** How the agents of one worker are set up. */
export interface AgentWorkerSetup {
  agents: number;
  connectionsPerAgent: number;
  upstreams: Array<{ host: string; port: number }>;
  /** Balancer options besides `listen` (the fleet behaviours on or off). */
  options: LoadBalancerOptionsInput;
  /** Agents start at random moments within this window, so their check phases spread like a real fleet's. */
  staggerMs: number;
  /** Each client opens its connection at a random moment within this window after its agent is ready. */
  connectSpreadMs: number;
  /** Each client waits a uniform random time in this range between its requests. */
  requestGapMs: [number, number];
  requestTimeoutMs: number;
}

/** What a worker reports. */
export interface AgentWorkerStats {
  clients: ClientCounters;
  /** Client connections open now. */
  connected: number;
  /** Summed over the agents: connections given up (no upstream reachable) and moved before their first answer. */
  proxy: { failed: number; retried: number };
  health: LoopHealth;
}

/** Operations of an agent worker. */
export type AgentWorkerOps = {
  /** Start the agents (staggered) and their clients; answers once every agent listens. */
  start: { args: AgentWorkerSetup; result: { ports: number[] } };
  stats: { args: Record<string, never>; result: AgentWorkerStats };
  stop: { args: Record<string, never>; result: Record<string, never> };
};

const balancers: LoadBalancer[] = [];
const clients: FleetClient[] = [];
const timers = new Set<NodeJS.Timeout>();
const counters = newCounters();
const health = watchLoopHealth();
let stopping = false;

const uniform = (lo: number, hi: number): number => lo + Math.random() * (hi - lo);

function later(ms: number, fn: () => void): void {
  const timer = setTimeout(() => {
    timers.delete(timer);
    fn();
  }, ms);
  timers.add(timer);
}

/** The client's life: after `delayMs` a request, then a random pause within `gap`, the next request, and so on. */
function loop(client: FleetClient, delayMs: number, gap: [number, number]): void {
  later(delayMs, () => {
    if (stopping) return;
    void client.request().then(() => {
      if (!stopping) loop(client, uniform(gap[0], gap[1]), gap);
    });
  });
}

/** Resolves with the listening port once the balancer listens and has a healthy upstream. */
function ready(lb: LoadBalancer): Promise<number> {
  return new Promise((resolve) => {
    const check = (): boolean => {
      const s = lb.snapshot();
      const port = s.listener.addresses[0]?.port;
      if (!s.listener.listening || port === undefined || !s.healthy) return false;
      unsubscribe();
      resolve(port);
      return true;
    };
    const unsubscribe = lb.onChange(() => void check());
    check();
  });
}

async function startAgent(setup: AgentWorkerSetup): Promise<number> {
  await sleep(uniform(0, setup.staggerMs));
  const lb = new LoadBalancer();
  balancers.push(lb);
  lb.configure({ ...setup.options, listen: { host: '127.0.0.1', port: 0 } });
  lb.setUpstreams(setup.upstreams);
  const port = await ready(lb);
  for (let i = 0; i < setup.connectionsPerAgent; i++) {
    const client = new FleetClient({ host: '127.0.0.1', port, servername: CLIENT_SNI, timeoutMs: setup.requestTimeoutMs }, counters);
    clients.push(client);
    // The first request (which opens the connection) comes at a random moment of the spread.
    loop(client, uniform(0, setup.connectSpreadMs), setup.requestGapMs);
  }
  return port;
}

serveOps<AgentWorkerOps>({
  start: async (setup) => {
    const ports = await Promise.all(Array.from({ length: setup.agents }, () => startAgent(setup)));
    return { ports };
  },
  stats: () => {
    const proxy = { failed: 0, retried: 0 };
    for (const lb of balancers) {
      const c = lb.snapshot().connections;
      proxy.failed += c.failed;
      proxy.retried += c.retried;
    }
    return {
      clients: counters,
      connected: clients.filter((c) => c.connected).length,
      proxy,
      health: health.read(),
    };
  },
  stop: async () => {
    stopping = true;
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    for (const client of clients) client.close();
    await Promise.all(balancers.map((lb) => lb.close({ drainTimeoutMs: 0 })));
    health.stop();
    return {};
  },
});
