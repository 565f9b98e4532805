/**
 * The fleet simulator's API-server process (a forked worker): three {@link FleetApiServer}s on their own
 * loopback addresses, recording per 100 ms, and the faults the scenarios apply to them.
 */
import { testCertificate } from '../../test/harness/certs.js';
import { serveOps } from '../lib/ipc.js';
import { nowMs } from '../lib/stats.js';
import { FleetApiServer } from './api-server.js';
import { watchLoopHealth, type LoopHealth } from './loop-health.js';
import { BucketRecorder, type FleetSeries } from './recorder.js';

/** What a scenario does to one server. */
export type FaultAction = 'readyz500' | 'readyz200' | 'kill' | 'restart';

/** Operations of the server process. */
export type ServerOps = {
  /** Start the servers; recording starts now (`startMs`, the shared wall clock). */
  start: { args: { hosts: string[] }; result: { servers: Array<{ name: string; host: string; port: number }>; startMs: number } };
  /** Apply a fault; answers when it took effect, in ms since the start. */
  fault: { args: { server: string; action: FaultAction }; result: { atMs: number } };
  /** Every complete bucket so far, and how the process itself fared. */
  collect: { args: Record<string, never>; result: { series: FleetSeries; bucketMs: number; health: LoopHealth } };
  stop: { args: Record<string, never>; result: Record<string, never> };
};

let servers: FleetApiServer[] = [];
let recorder: BucketRecorder | undefined;
const health = watchLoopHealth();

function find(name: string): FleetApiServer {
  const server = servers.find((s) => s.name === name);
  if (!server) throw new Error(`no server ${name} (have ${servers.map((s) => s.name).join(', ')})`);
  return server;
}

serveOps<ServerOps>({
  start: async ({ hosts }) => {
    if (recorder) throw new Error('servers already started');
    const tls = await testCertificate();
    const names = hosts.map((_, i) => `apiserver-${i + 1}`);
    const startMs = nowMs();
    const rec = new BucketRecorder(names, startMs);
    servers = hosts.map((host, i) => new FleetApiServer(names[i] as string, host, tls, rec));
    await Promise.all(servers.map((s) => s.start()));
    recorder = rec;
    return { servers: servers.map((s) => ({ name: s.name, ...s.endpoint })), startMs };
  },
  fault: async ({ server, action }) => {
    const s = find(server);
    // A kill takes effect when its connections are destroyed (at once), a restart once it listens.
    let at = nowMs();
    if (action === 'readyz500') s.readyzStatus = 500;
    else if (action === 'readyz200') s.readyzStatus = 200;
    else if (action === 'kill') await s.kill();
    else {
      await s.start();
      at = nowMs();
    }
    return { atMs: at - (recorder?.startMs ?? 0) };
  },
  collect: () => {
    if (!recorder) throw new Error('servers not started');
    return { series: recorder.snapshot(nowMs()), bucketMs: recorder.bucketMs, health: health.read() };
  },
  stop: async () => {
    await Promise.all(servers.map((s) => s.kill()));
    health.stop();
    return {};
  },
});
