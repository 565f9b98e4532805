import { isIP, isIPv4 } from 'node:net';

/** `host:port`, with IPv6 hosts in brackets (`[::1]:7445`): the form used in ids, labels and logs. */
export function formatAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** True for a literal loopback IP: 127.0.0.0/8 or ::1 (names are refused: /etc/hosts can say anything). */
export function isLoopbackIp(host: string): boolean {
  if (isIPv4(host)) return host.startsWith('127.');
  if (isIP(host) !== 6) return false;
  // Normalise ::1 spellings (0:0:0:0:0:0:0:1, ::0001) without pulling in an address library.
  const groups = host.toLowerCase().split('::');
  if (groups.length > 2) return false;
  const head = groups[0] ? groups[0].split(':') : [];
  const tail = groups.length === 2 && groups[1] ? groups[1].split(':') : [];
  const words = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail].map((w) => parseInt(w, 16));
  return words.length === 8 && words.slice(0, 7).every((w) => w === 0) && words[7] === 1;
}
