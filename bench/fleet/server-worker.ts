/**
 * One fake API server of the fleet simulator, in a process of its own (as three API servers are three
 * machines: a burst of handshakes on one does not slow the others), recording per 100 ms on a grid
 * shared with the other servers, and taking the faults the scenarios apply to it.
 */
import { testCertificate } from '../../test/harness/certs.js';
import { serveOps } from '../lib/ipc.js';
import { nowMs } from '../lib/stats.js';
import { FleetApiServer } from './api-server.js';
import { watchLoopHealth, type LoopHealth } from './loop-health.js';
import { BucketRecorder, type ServerSeries } from './recorder.js';

/** What a scenario does to a server. */
export type FaultAction = 'readyz500' | 'readyz200' | 'kill' | 'restart';

/** Operations of a server process. */
export type ServerOps = {
  /** Start listening; buckets count from `startMs` (the shared wall clock), the same for every server. */
  start: { args: { name: string; host: string; readyzDelayMs: number; startMs: number }; result: { port: number } };
  /** Apply a fault; answers when it took effect, in ms since the start. */
  fault: { args: { action: FaultAction }; result: { atMs: number } };
  /** Every complete bucket so far, and how the process itself fared. */
  collect: { args: Record<string, never>; result: { series: ServerSeries; bucketMs: number; health: LoopHealth } };
  stop: { args: Record<string, never>; result: Record<string, never> };
};

let server: FleetApiServer | undefined;
let recorder: BucketRecorder | undefined;
const health = watchLoopHealth();

function started(): { server: FleetApiServer; recorder: BucketRecorder } {
  if (!server || !recorder) throw new Error('server not started');
  return { server, recorder };
}

serveOps<ServerOps>({
  start: async ({ name, host, readyzDelayMs, startMs }) => {
    if (server) throw new Error('server already started');
    const rec = new BucketRecorder([name], startMs);
    const s = new FleetApiServer(name, host, await testCertificate(), rec);
    s.readyzDelayMs = readyzDelayMs;
    await s.start();
    [server, recorder] = [s, rec];
    return { port: s.endpoint.port };
  },
  fault: async ({ action }) => {
    const { server: s, recorder: rec } = started();
    // A kill takes effect when its connections are destroyed (at once), a restart once it listens.
    let at = nowMs();
    if (action === 'readyz500') s.readyzStatus = 500;
    else if (action === 'readyz200') s.readyzStatus = 200;
    else if (action === 'kill') await s.kill();
    else {
      await s.start();
      at = nowMs();
    }
    return { atMs: at - rec.startMs };
  },
  collect: () => {
    const { server: s, recorder: rec } = started();
    return { series: rec.snapshot(nowMs())[s.name] as ServerSeries, bucketMs: rec.bucketMs, health: health.read() };
  },
  stop: async () => {
    await server?.kill();
    health.stop();
    return {};
  },
});
