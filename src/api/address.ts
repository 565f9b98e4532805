import { KubeprismError } from '../runtime/errors.js';
import { formatAddress, isLoopbackIp } from '../util/address.js';

/** Where the debug API listens (or where a client finds it): a TCP host and port, or a unix socket path. */
export type ApiAddress =
  { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };

/** The debug API's default address (DESIGN: one port above KubePrism's 7445). */
export const DEFAULT_API_ADDRESS = '127.0.0.1:7446';

/** An `--api` value that cannot be parsed. */
export class ApiAddressError extends KubeprismError {
  constructor(message: string) {
    super('KP_ERR_API_ADDRESS', message);
  }
}

/** The debug API was asked to listen on an address other hosts could reach. */
export class NotLoopbackError extends KubeprismError {
  constructor(address: string) {
    super(
      'KP_ERR_API_NOT_LOOPBACK',
      `refusing to serve the debug API on ${address}: it is not a loopback address; use 127.0.0.1:<port>, [::1]:<port> or unix:/path`,
    );
  }
}

/**
 * Parses `host:port`, `[v6]:port` or `unix:/path`. `localhost` stands for 127.0.0.1 so that what is
 * bound is exactly what was checked (a resolver could map the name anywhere).
 */
export function parseApiAddress(text: string): ApiAddress {
  const value = text.trim();
  if (value.startsWith('unix:')) {
    const path = value.slice('unix:'.length);
    if (path === '') throw new ApiAddressError(`invalid API address "${text}": unix: needs a socket path`);
    return { kind: 'unix', path };
  }
  let host: string;
  let portText: string;
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(value);
  if (bracketed) {
    host = bracketed[1] ?? '';
    portText = bracketed[2] ?? '';
  } else {
    const colon = value.lastIndexOf(':');
    if (colon <= 0 || value.indexOf(':') !== colon) {
      throw new ApiAddressError(`invalid API address "${text}": want host:port, [ipv6]:port or unix:/path`);
    }
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new ApiAddressError(`invalid API address "${text}": port must be a number from 0 to 65535`);
  }
  if (host === 'localhost') host = '127.0.0.1';
  return { kind: 'tcp', host, port: Number(portText) };
}

/** Throws NotLoopbackError unless the address is a unix socket or a loopback TCP address. */
export function assertLocalAddress(address: ApiAddress): void {
  if (address.kind === 'tcp' && !isLoopbackIp(address.host)) throw new NotLoopbackError(formatApiAddress(address));
}

/** The address written back the way `--api` takes it. */
export function formatApiAddress(address: ApiAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  return formatAddress(address.host, address.port);
}
