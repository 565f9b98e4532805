import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ServerSeries } from '../../bench/fleet/recorder.js';
import { readFleetResults, writeFleetResults, fleetMarkdown, type FleetResults } from '../../bench/fleet/report.js';
import type { RunRecord } from '../../bench/fleet/run.js';
import { scaleRows } from '../../bench/fleet/scale.js';
import { parseFleetArgs } from '../../bench/fleet/scenarios.js';
import { summarize } from '../../bench/fleet/summary.js';

// A made-up 20-second run of scenario (b) at 100-ms buckets: apiserver-1 killed at 10 s, back at 15 s,
// and never given a connection again ("off"): imbalance ∞ to the end.
const BUCKETS = 200;
const series = (open: (b: number) => number, newAt: number[] = []): ServerSeries => ({
  open: Array.from({ length: BUCKETS }, (_, b) => open(b)),
  handshakes: Array.from({ length: BUCKETS }, (_, b) => (newAt.includes(b) ? 4 : 0) + (b % 50 === 0 ? 1 : 0)),
  clientHandshakes: Array.from({ length: BUCKETS }, (_, b) => (newAt.includes(b) ? 4 : 0)),
  requests: Array.from({ length: BUCKETS }, () => 3),
});
const record: RunRecord = {
  scenario: 'b',
  side: 'off',
  servers: ['apiserver-1', 'apiserver-2', 'apiserver-3'],
  bucketMs: 100,
  series: {
    'apiserver-1': series((b) => (b < 100 ? 4 : 0)),
    'apiserver-2': series((b) => (b < 101 ? 3 : 5), [101]),
    'apiserver-3': series((b) => (b < 101 ? 3 : 5), [101]),
  },
  faultStartMs: 10_000,
  faultEndMs: 15_000,
  endMs: 20_000,
  phases: [{ server: 'apiserver-1', kind: 'kill', downAtMs: 10_000, upAtMs: 15_000 }],
  clients: { requests: 50, ok: 50, failed: 0, retried: 2, failures: [] },
  connectedAtFault: 10,
  connectedAtEnd: 10,
  proxy: { failed: 0, retried: 0 },
  warmup: { ms: 10_000, failed: 0, retried: 0, proxyRetried: 0, proxyFailed: 0 },
  health: {
    agentWorkers: [{ lagP50Ms: 0.1, lagP99Ms: 2, lagMaxMs: 9, cpuPercent: 5, rssMiB: 80 }],
    servers: [{ lagP50Ms: 0.1, lagP99Ms: 1, lagMaxMs: 4, cpuPercent: 2, rssMiB: 60 }],
  },
};

describe('fleet report', () => {
  it('sums up a run: the kill burst, the leave time, the imbalance that never settles', () => {
    const s = summarize(record);
    expect(s.leaving[0]?.burst.client).toEqual({ value: 4, server: 'apiserver-2', atMs: 10_100 });
    expect(s.leaving[0]?.burst.clientTotal).toBe(8);
    expect(s.returning[0]?.burst.clientTotal).toBe(0);
    expect(s.leave[0]).toEqual({ server: 'apiserver-1', openBefore: 4, toOnePercentMs: 100, toZeroMs: 100 });
    expect(s.imbalance.before).toBeCloseTo(4 / 3);
    expect(s.imbalance.end).toBe(Infinity);
    expect(s.imbalance.settleMs).toBeNull();
    expect(s.connectionsBefore).toBe(10);
    expect(s.chart.open['apiserver-2']).toHaveLength(20);
  });

  it('writes Markdown, JSON and SVG, and reads the JSON back with ∞ intact', () => {
    const runs = [summarize(record)];
    const results: FleetResults = {
      date: '2026-01-01T00:00:00.000Z',
      machine: { cpu: 'test CPU', cores: 2, memoryGiB: 4, kernel: 'Linux', node: 'v20' },
      durationSeconds: 42,
      params: { ...parseFleetArgs(['--quick', '--scenarios=b']), agents: 2, connectionsPerAgent: 5 },
      healthCheck: { mode: 'readyz', intervalMs: 5000, timeoutMs: 2000, jitter: 0.2 },
      sides: { off: { available: true, options: {} }, on: { available: false, reason: 'not available in this build (test)' } },
      runs,
      scaling: scaleRows(runs, 2, 5),
    };
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-report-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    writeFleetResults(dir, results);
    const back = readFleetResults(path.join(dir, 'fleet.json'));
    expect(back.runs[0]?.imbalance.end).toBe(Infinity);
    expect(back).toEqual(results);
    const md = readFileSync(path.join(dir, 'fleet.md'), 'utf8');
    expect(md).toBe(fleetMarkdown(results));
    expect(md).toContain("| imbalance stays ≤ 1.25 after (from the last server's return)");
    expect(md).toMatch(/kill burst, apiserver-1 killed: .*\| 4 \/ 4; 8\/s; 8 in all +\| not available/);
    expect(md).toContain('behaviours on: not available in this build (test)');
    // Scaling: 8 connections re-homed by 2 agents → 4 per agent → 4,000 for 1,000 nodes.
    expect(md).toMatch(/\(b\) off: connections to re-home from a failed server +\| connections +\| 4\.0 +\| 2\.000 +\| 2,000 +\| 10,000/);
    const svg = readFileSync(path.join(dir, 'fleet.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('not available in this build');
  });
});
