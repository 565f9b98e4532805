/**
 * `npm run bench`: kubeprism against direct connections, HAProxy and socat on the same workload in one
 * run — data path, failover, control plane — printed as one table and written to bench/results/.
 * `--quick` for a short smoke run; `--profile` writes a CPU profile of the kubeprism process.
 */
import path from 'node:path';
import { dataPathContenders } from './contenders.js';
import { runDataPath, type DataPathParams } from './datapath.js';
import type { GeneratorOps } from './load-generator.js';
import { WorkerProcess } from './lib/ipc.js';
import type { UpstreamOps } from './upstream-server.js';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const only = [...args].find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const profileDir = [...args].find((a) => a.startsWith('--profile='))?.slice('--profile='.length);
const baseline = [...args].find((a) => a.startsWith('--baseline='))?.slice('--baseline='.length);
const log = (line: string): void => void process.stderr.write(`${line}\n`);

const params: DataPathParams = quick
  ? { runs: 1, bulkWarmupMs: 200, bulkDurationMs: 1000, parallelConnections: 8, rttMessages: 5000, rttWarmup: 500, messageBytes: 64, cpsConcurrency: 16, cpsWarmupMs: 200, cpsDurationMs: 1500, idleConnections: 1000 }
  : { runs: 3, bulkWarmupMs: 300, bulkDurationMs: 2000, parallelConnections: 8, rttMessages: 20000, rttWarmup: 2000, messageBytes: 64, cpsConcurrency: 16, cpsWarmupMs: 300, cpsDurationMs: 3000, idleConnections: 1000 };

const here = import.meta.dirname;
const generator = WorkerProcess.start<GeneratorOps>('load generator', path.join(here, 'load-generator.js'));
const upstreamWorker = WorkerProcess.start<UpstreamOps>('upstream', path.join(here, 'upstream-server.js'));
try {
  const upstream = { host: '127.0.0.2', ...(await upstreamWorker.call('start', { host: '127.0.0.2' })) };
  const contenders = dataPathContenders(log, { ...(profileDir ? { profileDir: path.resolve(profileDir) } : {}), ...(baseline ? { baseline: path.resolve(baseline) } : {}) }).filter((c) => !only || only.includes(c.id));
  const results = await runDataPath(contenders, upstream, generator, params, log);
  console.log(JSON.stringify(results.map((r) => ({ id: r.id, median: r.median, skipped: r.skipped })), null, 2));
} finally {
  await generator.stop();
  await upstreamWorker.stop();
}
