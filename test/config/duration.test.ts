import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, tryParseDuration } from '../../src/config/duration.js';
import { INVALID_CONFIG } from '../../src/config/errors.js';
import { invalid } from './helpers.js';

describe('parseDuration', () => {
  // Each row: Go-style text → milliseconds.
  it.each([
    ['0', 0],
    ['0s', 0],
    ['500ms', 500],
    ['5s', 5000],
    ['1m', 60_000],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['1h2m3s', 3_723_000],
    ['1.5s', 1500],
    ['.5s', 500],
    ['5.s', 5000],
    ['2500us', 2.5],
    ['2500µs', 2.5], // U+00B5 micro sign
    ['2500μs', 2.5], // U+03BC Greek mu
    ['1000000ns', 1],
    ['+5s', 5000],
    ['168h0m0s', 604_800_000],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  // Each row: bad text → the precise message.
  it.each([
    ['', 'must be a duration such as "5s" (got an empty string)'],
    ['-5s', 'must not be negative (got "-5s")'],
    ['-0', 'must not be negative (got "-0")'],
    ['5', 'needs a unit, e.g. "5s" or "5ms" (got "5"); only "0" may go without one'],
    ['1.5', 'needs a unit, e.g. "1.5s" or "1.5ms" (got "1.5"); only "0" may go without one'],
    ['1m30', 'needs a unit after "30" (got "1m30"); units: ns, us, µs, ms, s, m, h'],
    ['5sec', 'has unknown unit "sec" (got "5sec"); units: ns, us, µs, ms, s, m, h'],
    ['5d', 'has unknown unit "d" (got "5d"); units: ns, us, µs, ms, s, m, h'],
    ['abc', 'is not a duration: expected a number and a unit, like "5s" or "1m30s" (got "abc")'],
    ['.s', 'is not a duration: expected a number and a unit, like "5s" or "1m30s" (got ".s")'],
    ['+', 'is not a duration: expected a number and a unit, like "5s" (got "+")'],
    [' 5s', 'must not have surrounding spaces (got " 5s")'],
    ['5 s', 'has unknown unit " s" (got "5 s"); units: ns, us, µs, ms, s, m, h'],
    ['99999999999h', 'is too long (got "99999999999h")'],
  ])('refuses %j: %s', (text, message) => {
    expect(tryParseDuration(text)).toEqual({ ok: false, message });
    const err = invalid(() => parseDuration(text));
    expect(err.code).toBe(INVALID_CONFIG);
    expect(err.issues).toEqual([{ path: '', message }]);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [0.25, '250us'],
    [500, '500ms'],
    [1500, '1.5s'],
    [2000, '2s'],
    [90_000, '1m30s'],
    [3_600_000, '1h'],
    [3_723_000, '1h2m3s'],
  ])('writes %d ms as %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});
