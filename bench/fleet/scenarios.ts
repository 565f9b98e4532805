/** The fleet scenarios (what is done to which API server, when) and the simulator's parameters. */
import type { Side } from './behaviours.js';
import type { FaultAction } from './server-worker.js';

/** Scenario ids, as given to `--scenarios=`. */
export type ScenarioId = 'a' | 'b' | 'c';

/** One server out of service: `/readyz` failing, or the process killed, from `downAtMs` to `upAtMs`. */
export interface Phase {
  /** Index of the server (0-based). */
  server: number;
  kind: 'readyz' | 'kill';
  /** Relative to the fault start. */
  downAtMs: number;
  upAtMs: number;
}

/** A scenario: its phases, in order. */
export interface Scenario {
  id: ScenarioId;
  title: string;
  phases: Phase[];
}

/** Rolling restart: one server every 60 s, each back after this pause (a process restart's length). */
export const ROLLING_STEP_MS = 60_000;
export const ROLLING_PAUSE_MS = 5_000;

/** The three scenarios of issue 14. */
export const SCENARIOS: Record<ScenarioId, Scenario> = {
  a: {
    id: 'a',
    title: "(a) one server's /readyz answers 500 for 60 s",
    phases: [{ server: 0, kind: 'readyz', downAtMs: 0, upAtMs: 60_000 }],
  },
  b: { id: 'b', title: '(b) one server killed, restarted 30 s later', phases: [{ server: 0, kind: 'kill', downAtMs: 0, upAtMs: 30_000 }] },
  c: {
    id: 'c',
    title: `(c) rolling restart: each server killed in turn every ${ROLLING_STEP_MS / 1000} s, back after ${ROLLING_PAUSE_MS / 1000} s`,
    phases: [0, 1, 2].map((server) => ({
      server,
      kind: 'kill' as const,
      downAtMs: server * ROLLING_STEP_MS,
      upAtMs: server * ROLLING_STEP_MS + ROLLING_PAUSE_MS,
    })),
  },
};

/** One step of a scenario's script. */
export interface FaultStep {
  atMs: number;
  server: number;
  action: FaultAction;
}

/** The scenario as timed actions (relative to the fault start), in order. */
export function faultScript(scenario: Scenario): FaultStep[] {
  const steps = scenario.phases.flatMap((p): FaultStep[] => [
    { atMs: p.downAtMs, server: p.server, action: p.kind === 'kill' ? 'kill' : 'readyz500' },
    { atMs: p.upAtMs, server: p.server, action: p.kind === 'kill' ? 'restart' : 'readyz200' },
  ]);
  return steps.sort((x, y) => x.atMs - y.atMs);
}

/** When the last server is back, relative to the fault start. */
export function faultEndMs(scenario: Scenario): number {
  return Math.max(...scenario.phases.map((p) => p.upAtMs));
}

/** Everything a fleet run is made of. */
export interface FleetParams {
  agents: number;
  connectionsPerAgent: number;
  workers: number;
  scenarios: ScenarioId[];
  sides: Side[];
  /** From the first agent's start to the fault (agents start within `staggerMs`, clients connect within a request gap). */
  warmupMs: number;
  /** After the last server is back (the issue judges "imbalance ≤ 1.25 within 5 minutes"). */
  observeMs: number;
  staggerMs: number;
  /** Clients open their connections at random moments within this window after their agent is ready. */
  connectSpreadMs: number;
  requestGapMs: [number, number];
  requestTimeoutMs: number;
  servers: string[];
  /** `/readyz` answers after this long (see `FleetApiServer.readyzDelayMs`). */
  readyzDelayMs: number;
  quick: boolean;
  write: boolean;
  /** Only write fleet.md and fleet.svg again from fleet.json (after a change to the report). */
  render: boolean;
}

/** A command-line mistake: the message says which option and why. */
export class UsageError extends Error {}

const KNOWN = ['quick', 'no-write', 'render', 'agents', 'connections', 'workers', 'scenarios', 'sides', 'observe', 'warmup'];

/** `--render`, or `--quick --agents=N --connections=M --workers=W --scenarios=a,b --sides=off,on --observe=S --warmup=S --no-write`. */
export function parseFleetArgs(argv: readonly string[]): FleetParams {
  const unknown = argv.filter((a) => !KNOWN.some((k) => a === `--${k}` || a.startsWith(`--${k}=`)));
  if (unknown.length > 0) throw new UsageError(`unknown option(s) ${unknown.join(' ')}; known: ${KNOWN.map((k) => `--${k}`).join(' ')}`);
  const value = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name}=${raw}: must be a whole number from ${min} to ${max}`);
    return n;
  };
  const list = <T extends string>(name: string, allowed: readonly T[]): T[] => {
    const raw = value(name);
    if (raw === undefined) return [...allowed];
    const items = raw.split(',').filter((s) => s !== '');
    const bad = items.filter((s) => !(allowed as readonly string[]).includes(s));
    if (items.length === 0 || bad.length > 0)
      throw new UsageError(`--${name}=${raw}: expected a comma-separated list of ${allowed.join(', ')}`);
    return allowed.filter((a) => items.includes(a));
  };
  const quick = argv.includes('--quick');
  const agents = int('agents', quick ? 20 : 100, 1, 5000);
  return {
    agents,
    connectionsPerAgent: int('connections', 10, 1, 1000),
    // Several agents per process so the fleet fits 2 cores; at least two processes to use both.
    workers: Math.min(agents, int('workers', Math.min(4, Math.max(2, Math.ceil(agents / 25))), 1, 64)),
    scenarios: list<ScenarioId>('scenarios', ['a', 'b', 'c']),
    sides: list<Side>('sides', ['off', 'on']),
    warmupMs: int('warmup', 20, 5, 3600) * 1000,
    observeMs: int('observe', quick ? 120 : 300, 5, 7200) * 1000,
    staggerMs: 5_000,
    connectSpreadMs: 10_000,
    requestGapMs: [2_000, 5_000],
    requestTimeoutMs: 10_000,
    servers: ['127.0.41.1', '127.0.41.2', '127.0.41.3'],
    readyzDelayMs: 20,
    quick,
    write: !argv.includes('--no-write'),
    render: argv.includes('--render'),
  };
}
