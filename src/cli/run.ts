import path from 'node:path';
import { collectDefaultMetrics } from 'prom-client';
import { Agent } from '../agent/agent.js';
import { followMetricsAddress, type MetricsAddressFollower } from '../agent/metrics-address.js';
import { ApiServer, assertLocalAddress, formatApiAddress, MetricsServer, parseApiAddress, parseMetricsAddress } from '../api/index.js';
import { componentLogger, KubeprismError } from '../runtime/index.js';
import type { CliIo } from './io.js';
import { rootLogger, type LogFormat } from './logging.js';
import { credentialsFromFlags, parseAdoptFlags, type CredentialFlags } from './run-flags.js';

/** Options of `kubeprism run`. */
export interface RunOptions extends CredentialFlags {
  readonly config: string;
  readonly api: string;
  readonly stateDir: string;
  readonly outputDir?: string;
  readonly members?: string;
  readonly logLevel: string;
  readonly logFormat: LogFormat;
  /** Where to serve GET /metrics and /healthz read-only (any interface); else the config's `metricsAddress`, else off. */
  readonly metricsAddress?: string;
  /** `--adopt-kubeconfig NAME=PATH`, as given (repeatable). */
  readonly adoptKubeconfig?: readonly string[];
}

/** Bound on a clean shutdown: past it, the process exits non-zero rather than hang. */
const SHUTDOWN_TIMEOUT_MS = 30_000;

/**
 * `kubeprism run`: the agent and its debug API until SIGTERM/SIGINT (exit 0 after a clean stop); SIGHUP
 * re-reads and applies the config file. Resolves with the exit code; a start failure is reported on
 * stderr; flags that do not add up throw UsageError (exit 2).
 */
export async function runCommand(io: CliIo, options: RunOptions): Promise<number> {
  const adoptKubeconfigs = parseAdoptFlags(options.adoptKubeconfig ?? []);
  const credentials = credentialsFromFlags(options);
  let address;
  let metricsAddress;
  try {
    address = parseApiAddress(options.api);
    assertLocalAddress(address);
    if (options.metricsAddress !== undefined) metricsAddress = parseMetricsAddress(options.metricsAddress);
  } catch (err) {
    if (!(err instanceof KubeprismError)) throw err;
    io.stderr.write(`kubeprism: cannot start: ${err.message} (${err.code})\n`);
    return 1;
  }
  const logger = await rootLogger({ level: options.logLevel, format: options.logFormat });
  const log = componentLogger(logger, 'cli');
  const stateDir = path.resolve(options.stateDir);

  let started = false;
  let stopping = false;
  let requestStop: (signal: string) => void = () => undefined;
  const stopRequested = new Promise<string>((resolve) => (requestStop = resolve));
  const onStop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second stop signal: exiting without waiting for the shutdown');
      process.exit(1);
    }
    stopping = true;
    requestStop(signal);
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  // Installed now: SIGHUP's default action would kill the agent if it arrived during start-up.
  process.on('SIGHUP', () => {
    if (!started || stopping) return;
    log.info('SIGHUP: re-reading and applying the machine config file');
    agent?.reloadConfig().catch((err: unknown) => log.error({ err }, 'config reload failed'));
  });

  let agent: Agent | undefined;
  let api: ApiServer | undefined;
  let metrics: MetricsServer | undefined;
  let follower: MetricsAddressFollower | undefined;
  const shutdown = async (): Promise<void> => {
    stopping = true;
    const timer = setTimeout(() => {
      log.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    follower?.close();
    await Promise.all([api?.close(), metrics?.close()]);
    await agent?.stop();
    clearTimeout(timer);
  };

  try {
    agent = await Agent.create({
      configPath: path.resolve(options.config),
      stateDir,
      outputDir: path.resolve(options.outputDir ?? path.join(stateDir, 'kubeconfigs')),
      ...(options.members !== undefined ? { membersPath: path.resolve(options.members) } : {}),
      adoptKubeconfigs,
      credentials,
      logger,
    });
    collectDefaultMetrics({ register: agent.metrics });
    const ready = (): boolean => started && !stopping;
    api = await ApiServer.listen({ backend: agent, address, logger, ready });
    // A taken metrics port never stops the agent (the balancer matters more): it is retried with backoff.
    metrics = new MetricsServer({ registry: agent.metrics, logger, ready });
    if (metricsAddress !== undefined) await metrics.serve(metricsAddress);
    await agent.start();
    // The flag, or else the machine config's metricsAddress, followed as the config changes.
    follower = followMetricsAddress(agent.state, {
      listener: metrics,
      ...(options.metricsAddress !== undefined ? { flag: options.metricsAddress } : {}),
      logger: log,
    });
  } catch (err) {
    await shutdown().catch((e: unknown) => log.error({ err: e }, 'cleanup after a failed start failed'));
    const reason = err instanceof KubeprismError ? `${err.message} (${err.code})` : err instanceof Error ? err.message : String(err);
    log.fatal({ err }, 'cannot start');
    io.stderr.write(`kubeprism: cannot start: ${reason}\n`);
    return 1;
  }
  started = true;

  const metricsBound = metrics?.address;
  log.info(
    {
      api: formatApiAddress(api.address),
      ...(metricsBound ? { metrics: formatApiAddress({ kind: 'tcp', ...metricsBound }) } : {}),
      config: path.resolve(options.config),
      stateDir,
      profile: options.profile,
      ...(adoptKubeconfigs.length > 0 ? { adopted: adoptKubeconfigs.map((a) => `${a.name}=${a.path}`) } : {}),
      pid: process.pid,
    },
    'kubeprism running',
  );

  const signal = await stopRequested;
  log.info({ signal }, 'stopping');
  try {
    await shutdown();
  } catch (err) {
    log.error({ err }, 'shutdown failed');
    return 1;
  }
  log.info('stopped');
  return 0;
}
