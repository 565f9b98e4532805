/** Event-loop lag and CPU of one simulator process, so a reader can tell whether the simulator kept up. */
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** What one process reports about itself. */
export interface LoopHealth {
  /** Event-loop lag (ms beyond the sampling resolution): median, 99th percentile, worst. */
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  /** CPU time used since the start, as a share of one core. */
  cpuPercent: number;
  rssMiB: number;
}

const RESOLUTION_MS = 10;

/** Start measuring; `read()` reports since then. */
export function watchLoopHealth(): { read: () => LoopHealth; stop: () => void } {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // The histogram counts the resolution itself in every sample: what is beyond it is the lag.
  const lag = (ns: number): number => Math.max(0, ns / 1e6 - RESOLUTION_MS);
  return {
    read: () => {
      const cpu = process.cpuUsage(cpu0);
      const wallMs = performance.now() - t0;
      return {
        lagP50Ms: lag(histogram.percentile(50)),
        lagP99Ms: lag(histogram.percentile(99)),
        lagMaxMs: lag(histogram.max),
        cpuPercent: wallMs > 0 ? ((cpu.user + cpu.system) / 1000 / wallMs) * 100 : 0,
        rssMiB: process.memoryUsage.rss() / 2 ** 20,
      };
    },
    stop: () => histogram.disable(),
  };
}
