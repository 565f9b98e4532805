import { formatAddress } from '../util/address.js';
import { isPlainObject } from '../util/plain-object.js';

/**
 * A duration as kubectl's AGE column prints it (apimachinery's HumanDuration): `45s`, `3m20s`, `17m`,
 * `5h10m`, `20h`, `3d4h`, `12d`, `2y30d`; more detail while the number is small.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  // Up to two seconds into the future is clock skew between the agent and this machine: "now".
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (days < 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (days < 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

// RFC 3339 date-times as the agent writes them (ISO, UTC or with an offset).
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

/** The age of an RFC 3339 timestamp at `now` (kubectl's AGE form); the text itself when it is not one. */
export function age(timestamp: string, now: number): string {
  const at = TIMESTAMP.test(timestamp) ? Date.parse(timestamp) : NaN;
  return Number.isNaN(at) ? timestamp : humanDuration(now - at);
}

function scalar(value: unknown): string {
  // What is left after strings and objects (numbers, booleans, bigints) has a useful String().
  return typeof value === 'string' ? value : `${value as number}`;
}

/** An object as `k=v` pairs (kubectl's labels form); an address-like one (`host`, `port`) as `host:port (other values)`. */
function objectCell(value: Record<string, unknown>, now: number): string {
  const entries = Object.entries(value).filter(([, v]) => v !== undefined && v !== null);
  if (typeof value.host === 'string' && typeof value.port === 'number') {
    const rest = entries.filter(([k]) => k !== 'host' && k !== 'port');
    const address = formatAddress(value.host, value.port);
    if (rest.length === 0) return address;
    return `${address} (${rest.map(([, v]) => cell(v, now)).join(' ')})`;
  }
  return entries.map(([k, v]) => `${k}=${cell(v, now)}`).join(',');
}

/**
 * One table cell, readable rather than raw: lists as `a, b`, objects as `k=v` pairs, endpoints as
 * `127.0.0.10:6443 (clusterEndpoint)` or `10.0.0.2:6443 (member cp-2)`, timestamps as ages (`5m`), missing as empty; never JSON.
 */
export function cell(value: unknown, now: number): string {
  if (value === undefined || value === null) return '';
  let text: string;
  if (Array.isArray(value)) text = value.map((v) => cell(v, now)).join(', ');
  else if (isPlainObject(value)) text = objectCell(value, now);
  else if (typeof value === 'string') text = age(value, now);
  else text = scalar(value);
  // A newline inside a cell would break every row after it.
  return text.replace(/\s*\n\s*/g, ' ');
}
