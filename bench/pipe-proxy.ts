/**
 * The `pipe()` proxy: the smallest possible Node TCP proxy (two sockets joined with `pipe()`), run as its
 * own process — Node's floor for a proxy, next to HAProxy and the direct connection.
 * Usage: node pipe-proxy.js LISTEN_HOST UPSTREAM_HOST UPSTREAM_PORT [LISTEN_PORT]; prints the bound port on stdout.
 */
import { connect, createServer, type AddressInfo } from 'node:net';

const [listenHost = '127.0.0.1', upstreamHost = '127.0.0.2', upstreamPort = '0', listenPort = '0'] = process.argv.slice(2);
const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
  const upstream = connect({ host: upstreamHost, port: Number(upstreamPort), allowHalfOpen: true, noDelay: true });
  client.pipe(upstream).on('error', () => client.destroy());
  upstream.pipe(client).on('error', () => upstream.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
});
server.listen({ host: listenHost, port: Number(listenPort), backlog: 4096 }, () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
