/**
 * `npm run bench:fleet`: a fleet of real balancers in front of three fake API servers, through three
 * scenarios (a server's /readyz failing, a server killed, a rolling restart), each with the fleet
 * behaviours off and on, reported side by side in bench/results/fleet.{md,json,svg}.
 *
 * Options: --quick (20 agents, 2 minutes of observation: indicative only), --agents=N, --connections=M,
 * --workers=W, --scenarios=a,b,c, --sides=off,on, --observe=SECONDS, --warmup=SECONDS, --no-write;
 * --render writes fleet.md and fleet.svg again from fleet.json (after a change to the report).
 */
import path from 'node:path';
import { parseLoadBalancerOptions } from '../../src/loadbalancer/index.js';
import { REPO_ROOT } from '../kubeprism-process.js';
import { machineInfo } from '../report.js';
import { resolveSides } from './behaviours.js';
import { fleetMarkdown, readFleetResults, renderFleetResults, writeFleetResults, type FleetResults } from './report.js';
import { runScenario } from './run.js';
import { scaleRows } from './scale.js';
import { faultEndMs, parseFleetArgs, SCENARIOS, UsageError, type FleetParams } from './scenarios.js';
import { summarize, type RunSummary } from './summary.js';

const log = (line: string): void => void process.stderr.write(`${line}\n`);

function params(): FleetParams {
  try {
    return parseFleetArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    log(`bench:fleet: ${err.message}`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const p = params();
  const dir = path.join(REPO_ROOT, 'bench', 'results');
  if (p.render) {
    renderFleetResults(dir, readFleetResults(path.join(dir, 'fleet.json')));
    log('bench:fleet: fleet.md and fleet.svg written again from fleet.json');
    return;
  }
  const sides = resolveSides();
  const started = performance.now();
  const plannedS = p.scenarios.reduce(
    (s, id) => s + p.sides.filter((side) => sides[side].available).length * (p.warmupMs + faultEndMs(SCENARIOS[id]) + p.observeMs + 5_000),
    0,
  );
  log(
    `bench:fleet: ${p.agents} agents × ${p.connectionsPerAgent} connections, ${p.workers} workers; about ${Math.round(plannedS / 60_000)} min`,
  );
  for (const side of p.sides) {
    const s = sides[side];
    if (!s.available) log(`bench:fleet: behaviours ${side}: ${s.reason}`);
  }

  const runs: RunSummary[] = [];
  for (const id of p.scenarios) {
    for (const side of p.sides) {
      const s = sides[side];
      if (!s.available) continue;
      const record = await runScenario(p, SCENARIOS[id], side, s.options, log);
      runs.push(summarize(record));
    }
  }

  const { healthCheck } = parseLoadBalancerOptions({ listen: { port: 0 } });
  const results: FleetResults = {
    date: new Date().toISOString(),
    machine: machineInfo(),
    durationSeconds: (performance.now() - started) / 1000,
    params: p,
    healthCheck,
    sides,
    runs,
    scaling: scaleRows(runs, p.agents, p.connectionsPerAgent),
  };
  process.stdout.write(fleetMarkdown(results));
  if (p.write) {
    writeFleetResults(dir, results);
    log(`bench:fleet: written to ${path.relative(process.cwd(), dir) || '.'}/fleet.{md,json,svg}`);
  }
}

await main();
