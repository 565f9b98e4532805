import { describe, expect, it } from 'vitest';
import {
  imbalanceOf,
  imbalanceSeries,
  isUp,
  leaveTime,
  peak,
  peakRate,
  settleMs,
  shareRamp,
  type Outage,
} from '../../bench/fleet/analysis.js';
import type { FleetSeries, ServerSeries } from '../../bench/fleet/recorder.js';

// Series are written by hand on 100-ms buckets: index k is [100k, 100k + 100) ms.
const B = 100;

function server(open: number[], clientHandshakes: number[] = open.map(() => 0)): ServerSeries {
  return { open, handshakes: clientHandshakes.map((n) => n + 1), clientHandshakes, requests: open.map(() => 0) };
}

describe('fleet analysis: imbalance', () => {
  it('is most over least loaded; ∞ when one holds none; unknown with fewer than two or nothing at all', () => {
    expect(imbalanceOf([100, 80, 125])).toBe(1.5625);
    expect(imbalanceOf([10, 0, 10])).toBe(Infinity);
    expect(imbalanceOf([0, 0])).toBeNaN();
    expect(imbalanceOf([10])).toBeNaN();
  });

  it('counts only servers in service at the end of each bucket', () => {
    const series: FleetSeries = { a: server([10, 0, 0, 5]), b: server([10, 15, 15, 10]), c: server([10, 15, 15, 10]) };
    // a is out from 100 ms to 300 ms: buckets 0 (ends at 100) and 1, 2 (end at 200, 300) — bucket 0 ends exactly at the outage start.
    const outages: Outage[] = [{ server: 'a', downAtMs: 100, upAtMs: 300 }];
    expect(isUp(outages, 'a', 99)).toBe(true);
    expect(isUp(outages, 'a', 100)).toBe(false);
    expect(isUp(outages, 'a', 300)).toBe(true);
    // Bucket 0 ends at 100: a is already out. Buckets 1 (ends 200): out. Bucket 2 ends at 300: back, holding 0.
    expect(imbalanceSeries(series, outages, B)).toEqual([1, 1, Infinity, 2]);
  });

  it('settles when it stays within the limit until the end; never when the last bucket is over it', () => {
    // From 200 ms: over the limit in buckets 2 and 4, then within it.
    const values = [9, 9, 1.3, 1.1, 1.26, 1.2, 1.25, 1];
    expect(settleMs(values, 200, B)).toBe(300); // end of bucket 4 (500 ms) − 200 ms
    expect(settleMs(values, 550, B)).toBe(0); // from bucket 5 on it never exceeds 1.25
    expect(settleMs([1, 2, Infinity], 0, B)).toBeUndefined();
    expect(settleMs([1, NaN, 1], 0, B)).toBe(200); // unknown counts as over
    expect(settleMs([1, 1], 500, B)).toBeUndefined(); // nothing observed after the start
  });
});

describe('fleet analysis: leaving a failed server', () => {
  it('measures from the fault to the bucket where ≤ 1 % and then none remain', () => {
    // 200 held before the fault at 1050 ms (bucket 10); 1 % of 200 = 2.
    const open = [...Array<number>(10).fill(200), 150, 60, 2, 1, 0, 0, 0];
    const series: FleetSeries = { a: server(open) };
    const t = leaveTime(series, { server: 'a', downAtMs: 1050, upAtMs: 1600 }, B);
    expect(t).toEqual({ server: 'a', openBefore: 200, toOnePercentMs: 250, toZeroMs: 450 }); // ends of buckets 12 and 14
  });

  it('leaves the times out when the server is back before they are reached', () => {
    const series: FleetSeries = { a: server([100, 100, 50, 40, 30, 20]) };
    expect(leaveTime(series, { server: 'a', downAtMs: 200, upAtMs: 400 }, B)).toEqual({ server: 'a', openBefore: 100 });
  });
});

describe('fleet analysis: peaks and the ramp', () => {
  const series: FleetSeries = {
    a: server([0, 0, 0, 0, 0, 0], [0, 3, 0, 0, 7, 1]),
    b: server([0, 0, 0, 0, 0, 0], [2, 2, 5, 2, 2, 2]),
  };

  it('finds the largest bucket of any server in a window, the one holding its start included', () => {
    expect(peak(series, ['a', 'b'], 'clientHandshakes', 0, 600, B)).toEqual({ value: 7, server: 'a', atMs: 400 });
    expect(peak(series, ['a', 'b'], 'clientHandshakes', 150, 400, B)).toEqual({ value: 5, server: 'b', atMs: 200 });
    expect(peak(series, ['a', 'b'], 'handshakes', 0, 100, B)).toEqual({ value: 3, server: 'b', atMs: 0 });
  });

  it('gives the busiest window as a rate per second, summed over servers', () => {
    // a + b per bucket: [2, 5, 5, 2, 9, 3]; 200-ms windows: [7, 10, 7, 11, 12, 3]: the best is 12 per 0.2 s.
    expect(peakRate(series, ['a', 'b'], 'clientHandshakes', 0, 600, B, 200)).toBe(60);
    // Windows stay inside the range: a's buckets 0-2 are [0, 3, 0] (its 7 in bucket 4 is outside).
    expect(peakRate(series, ['a'], 'clientHandshakes', 0, 300, B, 200)).toBe(15);
    expect(peakRate(series, ['a'], 'clientHandshakes', 300, 400, B, 200)).toBe(0);
  });

  it("splits a returned server's share of new connections into bins without counting a bucket twice", () => {
    // a returns at 120 ms (bucket 1): bins of 0.2 s are buckets 1-2 and 3-4; bucket 5 lies beyond `until`.
    const ramp = shareRamp(series, 'a', 120, 500, B, [
      [0, 0.2],
      [0.2, 0.4],
      [0.4, 0.6],
    ]);
    expect(ramp).toEqual([
      { fromS: 0, toS: 0.2, onServer: 3, all: 10, share: 0.3 },
      { fromS: 0.2, toS: 0.4, onServer: 7, all: 11, share: 7 / 11 },
    ]);
    expect(shareRamp({ a: server([0, 0]), b: server([0, 0]) }, 'a', 0, 200, B, [[0, 0.2]])[0]?.share).toBeNaN();
  });
});
