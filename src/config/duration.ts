import { InvalidConfigError } from './errors.js';

/** Nanoseconds per Go duration unit (both micro signs are accepted, as Go does). */
const UNIT_NS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  µs: 1e3, // U+00B5 micro sign
  μs: 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

const UNITS_HINT = 'ns, us, µs, ms, s, m, h';

/** The outcome of reading a duration: milliseconds, or a message saying precisely what is wrong. */
export type DurationResult = { ok: true; ms: number } | { ok: false; message: string };

/**
 * Reads a Go-style duration (`500ms`, `5s`, `1m30s`, `1.5h`, `250us`) into milliseconds.
 * Negative durations, unitless numbers other than `0`, and unknown units are refused.
 */
export function tryParseDuration(text: string): DurationResult {
  const fail = (message: string): DurationResult => ({ ok: false, message });
  const shown = JSON.stringify(text);
  if (text === '') return fail('must be a duration such as "5s" (got an empty string)');
  if (text.trim() !== text) return fail(`must not have surrounding spaces (got ${shown})`);

  let rest = text;
  if (rest.startsWith('-')) {
    // Go reads "-0" as zero, but a negative interval or timeout is never meant; refuse the sign outright.
    return fail(`must not be negative (got ${shown})`);
  }
  if (rest.startsWith('+')) rest = rest.slice(1);
  if (rest === '0') return { ok: true, ms: 0 };
  if (rest === '') return fail(`is not a duration: expected a number and a unit, like "5s" (got ${shown})`);

  let ns = 0;
  // Go's grammar: one or more (number, unit) pairs, the number with an optional fraction.
  const part = /^(\d*)(?:\.(\d*))?([^\d.]*)/u;
  while (rest !== '') {
    const m = part.exec(rest);
    const whole = m?.[1] ?? '';
    const frac = m?.[2];
    const unit = m?.[3] ?? '';
    if (m === null || (whole === '' && (frac === undefined || frac === ''))) {
      return fail(`is not a duration: expected a number and a unit, like "5s" or "1m30s" (got ${shown})`);
    }
    if (unit === '') {
      return /^[\d.]+$/u.test(rest) && ns === 0
        ? fail(`needs a unit, e.g. "${rest}s" or "${rest}ms" (got ${shown}); only "0" may go without one`)
        : fail(`needs a unit after ${JSON.stringify(rest)} (got ${shown}); units: ${UNITS_HINT}`);
    }
    const perUnit = UNIT_NS[unit];
    if (perUnit === undefined) {
      return fail(`has unknown unit ${JSON.stringify(unit)} (got ${shown}); units: ${UNITS_HINT}`);
    }
    ns += Number(whole === '' ? '0' : whole) * perUnit;
    if (frac !== undefined && frac !== '') ns += Math.floor(Number(`0.${frac}`) * perUnit);
    if (!Number.isSafeInteger(ns)) return fail(`is too long (got ${shown})`);
    rest = rest.slice(m[0].length);
  }
  return { ok: true, ms: ns / 1e6 };
}

/** Reads a Go-style duration into milliseconds; throws `InvalidConfigError` (path `""`) when it is not one. */
export function parseDuration(text: string): number {
  const result = tryParseDuration(text);
  if (!result.ok) throw new InvalidConfigError([{ path: '', message: result.message }]);
  return result.ms;
}

/** Writes milliseconds back as a short Go-style duration (`500ms`, `1.5s`, `1m30s`, `2h`) for messages. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1) return `${round(ms * 1000)}us`;
  if (ms < 1000) return `${round(ms)}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = round((ms % 60_000) / 1000);
  return `${hours > 0 ? `${hours}h` : ''}${minutes > 0 ? `${minutes}m` : ''}${seconds > 0 ? `${seconds}s` : ''}`;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
