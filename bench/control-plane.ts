/**
 * Control plane: how fast the running agent follows its inputs — a config file that moves the KubePrism
 * port (rewritten by rename, as config tools do) until the new port accepts, and a member added to the
 * members file until it is listed, healthy, and answering a new connection.
 */
import { connect } from 'node:net';
import type { CheckPolicy } from './haproxy.js';
import { KubeprismProcess, machineConfigYaml, membersYaml, writeAtomically } from './kubeprism-process.js';
import type { GeneratorOps, Target } from './load-generator.js';
import type { WorkerProcess } from './lib/ipc.js';
import { makeTempDir, removeTempDir } from './lib/processes.js';
import { median, nowMs, sleep } from './lib/stats.js';
import { CLIENT_SNI } from './failover.js';
import { FakeApiServer } from '../test/harness/fake-apiserver.js';
import { freePort } from '../test/harness/ports.js';

/** Control-plane results: medians (ms) and every sample. */
export interface ControlPlaneResult {
  repeats: number;
  configToListenMs: number;
  memberToListedMs: number;
  memberToHealthyMs: number;
  memberToUsedMs: number;
  samples: { configToListenMs: number[]; memberToListedMs: number[]; memberToHealthyMs: number[]; memberToUsedMs: number[] };
}

function canConnect(target: Target): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(target);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Poll `check` every `everyMs` until it holds; the time it first held (or NaN after `timeoutMs`). */
async function firstTime(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 2): Promise<number> {
  const deadline = nowMs() + timeoutMs;
  while (nowMs() < deadline) {
    if (await check()) return nowMs();
    await sleep(everyMs);
  }
  return NaN;
}

/** Measure both control-plane paths `repeats` times on one running agent. */
export async function runControlPlane(
  generator: WorkerProcess<GeneratorOps>,
  repeats: number,
  check: CheckPolicy,
  log: (line: string) => void,
): Promise<ControlPlaneResult> {
  const servers = await Promise.all([21, 22, 23].map((n, i) => FakeApiServer.start({ name: `cp-${i + 1}`, host: `127.0.0.${n}` })));
  const [first, second, added] = servers.map((s) => ({ host: s.host, port: s.port })) as [Target, Target, Target];
  const newcomer = servers[2] as FakeApiServer;
  const dir = makeTempDir('control-plane');
  let port = await freePort('127.0.0.1');
  const kp = await KubeprismProcess.start(dir, { port, endpoint: first, members: [second], check });
  const samples: ControlPlaneResult['samples'] = { configToListenMs: [], memberToListedMs: [], memberToHealthyMs: [], memberToUsedMs: [] };
  try {
    for (let i = 0; i < repeats; i++) {
      port = await freePort('127.0.0.1');
      const t0 = nowMs();
      writeAtomically(kp.configPath, machineConfigYaml({ port, endpoint: first, check }));
      samples.configToListenMs.push((await firstTime(() => canConnect({ host: '127.0.0.1', port }), 10_000)) - t0);
    }
    await generator.call('streamStart', { host: '127.0.0.1', port, intervalMs: 10, timeoutMs: 2_000, servername: CLIENT_SNI });
    const addedId = `${added.host}:${added.port}`;
    for (let i = 0; i < repeats; i++) {
      let listed = NaN;
      let healthy = NaN;
      let used = NaN;
      let t0 = Infinity;
      const stop = kp.followUpstreams((event, spec, at) => {
        if (`${spec.host}:${spec.port}` !== addedId || event === 'destroyed' || at < t0) return;
        if (Number.isNaN(listed)) listed = at;
        if (spec.healthy && Number.isNaN(healthy)) healthy = at;
      });
      const onRequest = (path: string): void => {
        if (path === '/version' && Number.isNaN(used) && nowMs() >= t0) used = nowMs();
      };
      newcomer.on('request', onRequest);
      await sleep(200); // the watch is established
      t0 = nowMs();
      writeAtomically(kp.membersPath, membersYaml([second, added]));
      await firstTime(() => !Number.isNaN(used), 10_000, 5);
      stop();
      newcomer.off('request', onRequest);
      samples.memberToListedMs.push(listed - t0);
      samples.memberToHealthyMs.push(healthy - t0);
      samples.memberToUsedMs.push(used - t0);
      // Take it away again, and wait until it is gone before the next round.
      writeAtomically(kp.membersPath, membersYaml([second]));
      await firstTime(async () => !(await kp.upstreams()).some((u) => `${u.host}:${u.port}` === addedId), 10_000, 20);
    }
    await generator.call('streamStop', {});
  } finally {
    await kp.stop();
    removeTempDir(dir);
    await Promise.all(servers.map((s) => s.stop()));
  }
  const result: ControlPlaneResult = {
    repeats,
    configToListenMs: median(samples.configToListenMs),
    memberToListedMs: median(samples.memberToListedMs),
    memberToHealthyMs: median(samples.memberToHealthyMs),
    memberToUsedMs: median(samples.memberToUsedMs),
    samples,
  };
  log(
    `  config → new port accepting ${result.configToListenMs.toFixed(0)} ms; member added → listed ${result.memberToListedMs.toFixed(0)} ms, healthy ${result.memberToHealthyMs.toFixed(0)} ms, used ${result.memberToUsedMs.toFixed(0)} ms (median of ${repeats})`,
  );
  return result;
}
