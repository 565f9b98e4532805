/** The failover scenarios for each proxy (kubeprism, HAProxy with `check`), every fault, several runs. */
import { startHaproxy, haproxyServerStatus, waitHaproxyUp, type CheckPolicy } from './haproxy.js';
import { KubeprismProcess } from './kubeprism-process.js';
import type { GeneratorOps } from './load-generator.js';
import type { WorkerProcess } from './lib/ipc.js';
import { makeTempDir, removeTempDir, stopProcess } from './lib/processes.js';
import { nowMs, sleep } from './lib/stats.js';
import {
  FailoverUpstreams,
  medianSample,
  runScenario,
  type FailoverParams,
  type FailoverProxy,
  type FailoverSample,
  type FaultKind,
} from './failover.js';
import { freePort } from '../test/harness/ports.js';

/** Results of one proxy under one fault. */
export interface FailoverResult {
  proxy: 'kubeprism' | 'haproxy';
  fault: FaultKind;
  samples: FailoverSample[];
  median: FailoverSample;
  /** Failed client connections summed over every run. */
  failedTotal: number;
}

interface StartedProxy {
  proxy: FailoverProxy;
  stop(): Promise<void>;
}

async function startKubeprism(upstreams: FailoverUpstreams, check: CheckPolicy): Promise<StartedProxy> {
  const dir = makeTempDir('failover-kubeprism');
  const port = await freePort('127.0.0.1');
  const [first, ...rest] = upstreams.servers.map((s) => ({ host: s.host, port: s.port }));
  const kp = await KubeprismProcess.start(dir, { port, endpoint: first as { host: string; port: number }, members: rest, check });
  return {
    proxy: {
      target: { host: '127.0.0.1', port },
      waitAllHealthy: () => kp.waitHealthy(upstreams.servers.length),
      followDown: (onDown) =>
        kp.followUpstreams((_event, spec, at) => {
          if (!spec.healthy) onDown(`${spec.host}:${spec.port}`, at);
        }),
    },
    stop: async () => {
      await kp.stop();
      removeTempDir(dir);
    },
  };
}

async function startHaproxyProxy(binary: string, upstreams: FailoverUpstreams, check: CheckPolicy): Promise<StartedProxy> {
  const dir = makeTempDir('failover-haproxy');
  const listen = { host: '127.0.0.1', port: await freePort('127.0.0.1') };
  const { child, statsSocket } = startHaproxy(
    binary,
    dir,
    listen,
    upstreams.servers.map((s) => ({ host: s.host, port: s.port })),
    check,
  );
  await waitHaproxyUp(child, statsSocket, upstreams.servers.length);
  return {
    proxy: {
      target: listen,
      waitAllHealthy: () => waitHaproxyUp(child, statsSocket, upstreams.servers.length),
      // HAProxy has no watch: poll its stats socket.
      followDown: (onDown) => {
        let running = true;
        void (async () => {
          while (running) {
            try {
              const at = nowMs();
              for (const [address, status] of await haproxyServerStatus(statsSocket)) if (status !== 'UP' && running) onDown(address, at);
            } catch {
              // a poll during a reload: try again
            }
            await sleep(10);
          }
        })();
        return () => (running = false);
      },
    },
    stop: async () => {
      await stopProcess(child);
      removeTempDir(dir);
    },
  };
}

/** Every proxy × fault × run; a fresh proxy per run, the faults in turn on it. */
export async function runFailover(
  generator: WorkerProcess<GeneratorOps>,
  params: FailoverParams,
  haproxyBinary: string | undefined,
  log: (line: string) => void,
  faults: readonly FaultKind[] = ['kill', 'blackhole', 'readyz500'],
): Promise<FailoverResult[]> {
  const check: CheckPolicy = { mode: 'readyz', intervalMs: params.checkIntervalMs, timeoutMs: params.checkTimeoutMs };
  const upstreams = await FailoverUpstreams.start();
  const proxies: Array<FailoverResult['proxy']> = haproxyBinary ? ['kubeprism', 'haproxy'] : ['kubeprism'];
  const samples = new Map<string, FailoverSample[]>();
  try {
    for (let run = 0; run < params.runs; run++) {
      for (const name of proxies) {
        await upstreams.reset();
        const started =
          name === 'kubeprism'
            ? await startKubeprism(upstreams, check)
            : await startHaproxyProxy(haproxyBinary as string, upstreams, check);
        try {
          for (const fault of faults) {
            const sample = await runScenario(fault, started.proxy, upstreams, generator, params);
            const key = `${name}/${fault}`;
            samples.set(key, [...(samples.get(key) ?? []), sample]);
            log(
              `  run ${run + 1}/${params.runs} ${name.padEnd(9)} ${fault.padEnd(9)} ${sample.requests} conns, ${sample.failed} failed (+${sample.inFlightLost} in flight), longest gap ${sample.longestGapMs.toFixed(0)} ms, no more traffic after ${sample.stopMs.toFixed(0)} ms, used again after ${sample.reuseMs.toFixed(0)} ms`,
            );
          }
        } finally {
          await started.stop();
        }
      }
    }
  } finally {
    await upstreams.stop();
  }
  return proxies.flatMap((proxy) =>
    faults.map((fault) => {
      const list = samples.get(`${proxy}/${fault}`) ?? [];
      return { proxy, fault, samples: list, median: medianSample(list), failedTotal: list.reduce((n, s) => n + s.failed, 0) };
    }),
  );
}
