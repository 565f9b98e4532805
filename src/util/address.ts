import { isIP } from 'node:net';

/** `host:port`, with IPv6 hosts in brackets (`[::1]:7445`): the form used in ids, labels, logs and URLs. */
export function formatAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** True for a literal loopback IP: 127.0.0.0/8 or ::1 (names are refused: /etc/hosts can say anything). */
export function isLoopbackIp(host: string): boolean {
  if (isIP(host) === 4) return host.startsWith('127.');
  // The URL parser compresses any spelling of ::1 (0:0:0:0:0:0:0:1, ::0001…) to one form.
  if (isIP(host) === 6) return new URL(`http://[${host}]/`).hostname === '[::1]';
  return false;
}
