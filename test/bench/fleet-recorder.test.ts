import { describe, expect, it } from 'vitest';
import { BucketRecorder } from '../../bench/fleet/recorder.js';

// A recorder starting at t = 1000 ms with 100-ms buckets: bucket k covers [1000 + 100k, 1100 + 100k).
const start = 1000;

describe('fleet BucketRecorder', () => {
  it('counts each event in the bucket of its time, and reports only complete buckets', () => {
    const rec = new BucketRecorder(['a', 'b'], start);
    rec.count('a', 'handshakes', 1000); // bucket 0 (its first instant)
    rec.count('a', 'handshakes', 1099.9); // bucket 0 (its last instant)
    rec.count('a', 'handshakes', 1100); // bucket 1
    rec.count('b', 'requests', 1350); // bucket 3
    rec.count('a', 'clientHandshakes', 1420); // bucket 4: incomplete at 1450
    const s = rec.snapshot(1450);
    expect(s.a?.handshakes).toEqual([2, 1, 0, 0]);
    expect(s.a?.clientHandshakes).toEqual([0, 0, 0, 0]);
    expect(s.b?.requests).toEqual([0, 0, 0, 1]);
    expect(s.b?.handshakes).toEqual([0, 0, 0, 0]);
    // Once bucket 4 is complete, the event shows.
    expect(rec.snapshot(1500).a?.clientHandshakes).toEqual([0, 0, 0, 0, 1]);
  });

  it('samples the open-connection gauge at the end of each bucket, carrying it over quiet buckets', () => {
    const rec = new BucketRecorder(['a'], start);
    rec.open('a', +1, 1010);
    rec.open('a', +1, 1020);
    rec.open('a', -1, 1090); // bucket 0 ends with 1
    rec.open('a', +3, 1250); // buckets 1 ends with 1, bucket 2 with 4
    rec.open('a', -4, 1399.9); // bucket 3 ends with 0
    expect(rec.snapshot(1600).a?.open).toEqual([1, 1, 4, 0, 0, 0]);
    expect(rec.current('a')).toBe(0);
  });

  it('puts events before the start into bucket 0 and never lets the gauge go negative', () => {
    const rec = new BucketRecorder(['a'], start);
    rec.count('a', 'requests', 900);
    rec.open('a', -1, 950);
    const s = rec.snapshot(1100);
    expect(s.a?.requests).toEqual([1]);
    expect(s.a?.open).toEqual([0]);
  });

  it('rejects an unknown server by name', () => {
    const rec = new BucketRecorder(['a'], start);
    expect(() => rec.count('z', 'requests', 1000)).toThrow(/unknown server z/);
  });
});
