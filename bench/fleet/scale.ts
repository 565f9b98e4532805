/**
 * From the simulated fleet to real ones: what 1,000 and 5,000 nodes would see, derived from the
 * measured per-agent behaviour. Agents act independently (their checks and their clients' requests
 * are on their own jittered clocks), so a rate in a window is a sum over agents: it scales linearly
 * with the number of nodes at the same per-agent rate.
 */
import type { RunSummary } from './summary.js';

/** One derived figure. */
export interface ScaleRow {
  what: string;
  unit: string;
  /** Measured with `agents` agents. */
  measured: number;
  perAgent: number;
  /** nodes → perAgent × nodes. */
  projected: Record<number, number>;
}

/** The fleet sizes of the closing note. */
export const FLEET_SIZES = [1_000, 5_000];

/** Derived figures for every run with a fault burst or a return wave worth scaling. */
export function scaleRows(runs: readonly RunSummary[], agents: number, connectionsPerAgent: number, sizes = FLEET_SIZES): ScaleRow[] {
  const row = (what: string, unit: string, measured: number): ScaleRow => ({
    what,
    unit,
    measured,
    perAgent: measured / agents,
    projected: Object.fromEntries(sizes.map((n) => [n, (measured / agents) * n])),
  });
  const rows: ScaleRow[] = [];
  const first = runs[0];
  if (first) {
    rows.push(row('client connections per API server (3 servers, balanced)', 'connections', (agents * connectionsPerAgent) / 3));
    const checks = runs.reduce((n, r) => n + r.checkHandshakesPerServerPerS, 0) / runs.length;
    rows.push(row('health-check handshakes per API server, steady state', 'per s', checks));
  }
  for (const r of runs) {
    const tag = `(${r.scenario}) ${r.side}`;
    const held = Math.max(0, ...r.leave.map((l) => l.openBefore));
    rows.push(row(`${tag}: connections to re-home from a failed server`, 'connections', held));
    const worstLeaving = [...r.leaving].sort((x, y) => y.burst.clientPerSecond - x.burst.clientPerSecond)[0];
    if (worstLeaving) {
      const label = worstLeaving.kind === 'kill' ? 'kill burst' : `leaving ${worstLeaving.server}`;
      rows.push(row(`${tag}: ${label}, new client connections, busiest second (all servers)`, 'per s', worstLeaving.burst.clientPerSecond));
      rows.push(
        row(
          `${tag}: ${label}, new client connections, busiest 100 ms (one server; linear = upper bound)`,
          'per 100 ms',
          worstLeaving.burst.client.value,
        ),
      );
    }
    const worstReturn = [...r.returning].sort((x, y) => y.burst.clientPerSecond - x.burst.clientPerSecond)[0];
    if (worstReturn) {
      rows.push(row(`${tag}: wave onto the returned server, busiest second`, 'per s', worstReturn.burst.clientPerSecond));
      rows.push(row(`${tag}: connections the returned server took in its first 60 s`, 'connections', worstReturn.burst.clientTotal));
    }
  }
  return rows;
}
