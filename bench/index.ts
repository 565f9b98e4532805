/**
 * `npm run bench`: kubeprism against direct connections, the `pipe()` proxy (Node's floor), HAProxy (TCP
 * mode, 1 thread and default threads) and socat on the same workload in one run — data path (both
 * directions), failover, control plane — printed as one report and written to bench/results/
 * (latest.json, latest.md, latest.svg).
 *
 * Options: --quick (one short run, indicative only), --only=direct,kubeprism,pipe,haproxy1,haproxy,socat (data-path
 * contenders), --skip=datapath,failover,controlplane, --profile=DIR (V8 CPU profile of the kubeprism
 * process), --baseline=CHECKOUT (also run another build's bin/kubeprism.js, for A/B), --runs=N (data-path
 * runs instead of 5, or 1 with --quick), --no-write.
 */
import path from 'node:path';
import { dataPathContenders } from './contenders.js';
import { runControlPlane } from './control-plane.js';
import { runDataPath, type DataPathParams } from './datapath.js';
import type { FailoverParams } from './failover.js';
import { runFailover } from './failover-run.js';
import { REPO_ROOT } from './kubeprism-process.js';
import type { GeneratorOps } from './load-generator.js';
import { WorkerProcess } from './lib/ipc.js';
import { which } from './lib/install.js';
import { machineInfo, markdown, writeResults, type BenchResults } from './report.js';
import type { UpstreamOps } from './upstream-server.js';

const argv = process.argv.slice(2);
const flag = (name: string): boolean => argv.includes(`--${name}`);
const option = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const known = ['quick', 'no-write', 'only', 'skip', 'profile', 'baseline', 'runs'];
const unknown = argv.filter((a) => !known.some((k) => a === `--${k}` || a.startsWith(`--${k}=`)));
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown option(s) ${unknown.join(' ')}; known: ${known.map((k) => `--${k}`).join(' ')}\n`);
  process.exit(2);
}
const quick = flag('quick');
const only = option('only')?.split(',');
const skip = new Set(option('skip')?.split(',') ?? []);
const profileDir = option('profile');
const baseline = option('baseline');
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const runs = option('runs') === undefined ? undefined : Number(option('runs'));
if (runs !== undefined && !(Number.isInteger(runs) && runs > 0)) {
  process.stderr.write(`bench: --runs wants a whole number above 0, not ${option('runs')}\n`);
  process.exit(2);
}

const dataPathParams: DataPathParams = quick
  ? {
      runs: 1,
      bulkWarmupMs: 200,
      bulkDurationMs: 1000,
      parallelConnections: 8,
      rttMessages: 5000,
      rttWarmup: 500,
      messageBytes: 64,
      cpsConcurrency: 16,
      cpsWarmupMs: 200,
      cpsDurationMs: 1500,
      idleConnections: 1000,
      memoryRuns: 1,
      memorySettleMs: 30_000,
    }
  : {
      runs: 5,
      bulkWarmupMs: 300,
      bulkDurationMs: 2000,
      parallelConnections: 8,
      rttMessages: 20000,
      rttWarmup: 2000,
      messageBytes: 64,
      cpsConcurrency: 16,
      cpsWarmupMs: 300,
      cpsDurationMs: 3000,
      idleConnections: 1000,
      memoryRuns: 3,
      memorySettleMs: 30_000,
    };
if (runs !== undefined) dataPathParams.runs = runs;
const failoverParams: FailoverParams = {
  runs: quick ? 1 : 3,
  streamIntervalMs: 20,
  clientTimeoutMs: 2000,
  warmupMs: 1500,
  faultMs: 3000,
  recoverMs: 3000,
  checkIntervalMs: 500,
  checkTimeoutMs: 400,
};
const controlPlaneRepeats = quick ? 2 : 5;

const started = performance.now();
const here = import.meta.dirname;
const generator = WorkerProcess.start<GeneratorOps>('load generator', path.join(here, 'load-generator.js'));
const upstreamWorker = WorkerProcess.start<UpstreamOps>('upstream', path.join(here, 'upstream-server.js'));
try {
  const contenders = dataPathContenders(log, {
    ...(profileDir ? { profileDir: path.resolve(profileDir) } : {}),
    ...(baseline ? { baseline: path.resolve(baseline) } : {}),
  }).filter((c) => !only || only.includes(c.id));
  const skipped: Record<string, string> = {};
  for (const c of contenders) if (c.skipped) skipped[c.label] = c.skipped;
  for (const [name, why] of Object.entries(skipped)) log(`bench: ${name} skipped: ${why}`);
  const versions: Record<string, string> = {};
  for (const c of contenders) if (c.id === 'haproxy' || c.id === 'socat') versions[c.label] = c.version.replace(/^\S+ version /, '');

  let dataPath: BenchResults['dataPath'] = [];
  if (!skip.has('datapath')) {
    log(`data path (${dataPathParams.runs} run${dataPathParams.runs > 1 ? 's' : ''}, contenders interleaved):`);
    dataPath = await runDataPath(contenders, upstreamWorker, generator, dataPathParams, log);
  }
  let controlPlane: BenchResults['controlPlane'];
  if (!skip.has('controlplane')) {
    log('control plane:');
    controlPlane = await runControlPlane(generator, controlPlaneRepeats, { mode: 'readyz', intervalMs: 500, timeoutMs: 400 }, log);
  }
  let failover: BenchResults['failover'] = [];
  if (!skip.has('failover')) {
    log(`failover (${failoverParams.runs} run${failoverParams.runs > 1 ? 's' : ''}):`);
    const haproxy = contenders.some((c) => c.id === 'haproxy' && !c.skipped) || !only ? which('haproxy') : undefined;
    failover = await runFailover(generator, failoverParams, haproxy, log);
  }

  const results: BenchResults = {
    date: new Date().toISOString(),
    machine: machineInfo(),
    versions,
    quick,
    durationSeconds: (performance.now() - started) / 1000,
    params: { dataPath: dataPathParams, failover: failoverParams, controlPlaneRepeats },
    dataPath,
    failover,
    ...(controlPlane ? { controlPlane } : {}),
    skipped,
  };
  process.stdout.write(`\n${markdown(results)}`);
  if (!flag('no-write')) {
    const dir = path.join(REPO_ROOT, 'bench', 'results');
    writeResults(dir, results);
    log(`\nwritten: ${path.relative(process.cwd(), dir)}/latest.{json,md,svg}`);
  }
} finally {
  await generator.stop();
  await upstreamWorker.stop();
}
