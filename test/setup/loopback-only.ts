import dns from 'node:dns';
import net from 'node:net';
import { afterAll, expect } from 'vitest';
import { isLoopbackIp } from '../../src/util/address.js';

// Tests talk to loopback only (127.0.0.0/8 and ::1): no connection and no DNS lookup may leave the
// machine. This records every connect or lookup in the test process that would, and fails the file that
// made it — whatever code made it (a health check of a config's example endpoint counts too). Child
// processes (the built binary) are not covered; the code paths they run are the same ones tested here.

const escapes: string[] = [];

function allowedHost(host: unknown): boolean {
  if (typeof host !== 'string' || host === '') return true; // a unix socket path, or the default (localhost)
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  return bare === 'localhost' || isLoopbackIp(bare);
}

// eslint-disable-next-line @typescript-eslint/unbound-method -- re-applied below with the socket as `this`
const originalConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
  // net.connect() hands over its normalized arguments as one array: [options, callback].
  const [first] = Array.isArray(args[0]) ? (args[0] as unknown[]) : args;
  const options = typeof first === 'object' && first !== null ? (first as { host?: unknown; path?: unknown }) : undefined;
  const host = options ? (options.path !== undefined ? undefined : options.host) : typeof args[1] === 'string' ? args[1] : undefined;
  if (!allowedHost(host)) escapes.push(`connect to ${String(host)}`);
  return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
};

const originalLookup = dns.lookup;
(dns as { lookup: unknown }).lookup = function guardedLookup(hostname: string, ...rest: unknown[]) {
  if (!allowedHost(hostname)) escapes.push(`DNS lookup of ${hostname}`);
  return (originalLookup as (...a: unknown[]) => unknown)(hostname, ...rest);
};

afterAll(() => {
  expect(escapes, 'traffic that would leave loopback').toEqual([]);
});
