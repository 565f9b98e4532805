/**
 * A lean fake Kubernetes API server for the fleet simulator: TLS on its own loopback address, a tiny
 * HTTP/1.1 loop (keep-alive, no timeouts that a real API server would not have), `/readyz` switchable,
 * kill and restart on the same address and port. Every handshake, client request and open client
 * connection goes to a {@link BucketRecorder}.
 */
import type { AddressInfo, Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { nowMs } from '../lib/stats.js';
import type { BucketRecorder } from './recorder.js';

/** The SNI the fleet clients send: how the server tells them from the balancers' health checks (no SNI). */
export const CLIENT_SNI = 'fleet-client';

/** A list answer of about the size of a small `kubectl get`: the body of every client request. */
const LIST_BODY = '{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"12345"},"items":[]}';
/** Request heads are small; anything bigger is not a fleet client or a health check. */
const MAX_HEAD_BYTES = 16 * 1024;

/** One fake API server. */
export class FleetApiServer {
  /** Status of `GET /readyz` (500: alive but not ready). */
  readyzStatus = 200;
  /**
   * `/readyz` answers after this long, as an API server's readiness checks (etcd and friends) take
   * some time. It also keeps every server's health check in one latency tier (10-100 ms) whatever the
   * simulator's own load: otherwise a few milliseconds of scheduling noise on loopback moves servers
   * across the 10-ms tier bound, and the balancers' tier preference, not the fleet behaviours, decides
   * where connections go.
   */
  readyzDelayMs = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private boundPort: number;

  constructor(
    readonly name: string,
    readonly host: string,
    private readonly tls: { key: string; cert: string },
    private readonly recorder: BucketRecorder,
    port = 0,
  ) {
    this.boundPort = port;
  }

  /** Where it listens (the port stays the same across restarts). */
  get endpoint(): { host: string; port: number } {
    return { host: this.host, port: this.boundPort };
  }

  /** Listening now. */
  get running(): boolean {
    return this.server !== undefined;
  }

  /** Listen (the first time on the given or an ephemeral port, afterwards on the same one). */
  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer({ key: this.tls.key, cert: this.tls.cert }, (socket) => this.onSecure(socket));
    server.on('connection', (raw: Socket) => {
      this.sockets.add(raw);
      raw.on('close', () => this.sockets.delete(raw));
      raw.on('error', () => raw.destroy());
    });
    server.on('tlsClientError', () => undefined); // a client that leaves mid-handshake
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.host, port: this.boundPort, backlog: 4096 }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    this.boundPort = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stop listening and destroy every connection at once: a killed process, as its clients see it. */
  async kill(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private onSecure(socket: TLSSocket): void {
    const client = socket.servername === CLIENT_SNI;
    const at = nowMs();
    this.recorder.count(this.name, 'handshakes', at);
    if (client) {
      this.recorder.count(this.name, 'clientHandshakes', at);
      this.recorder.open(this.name, +1, at);
      socket.once('close', () => this.recorder.open(this.name, -1, nowMs()));
    }
    socket.on('error', () => socket.destroy());
    let head = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      head += chunk;
      // Requests are GETs without a body: each ends at the blank line.
      for (let end = head.indexOf('\r\n\r\n'); end >= 0; end = head.indexOf('\r\n\r\n')) {
        const request = head.slice(0, end);
        head = head.slice(end + 4);
        this.answer(socket, request, client);
      }
      if (head.length > MAX_HEAD_BYTES) socket.destroy();
    });
  }

  private answer(socket: TLSSocket, request: string, client: boolean): void {
    const path = request.slice(request.indexOf(' ') + 1, request.indexOf(' ', request.indexOf(' ') + 1)).split('?')[0] ?? '/';
    const close = /\r\nconnection:\s*close/i.test(request);
    let status = 200;
    let body = LIST_BODY;
    let type = 'application/json';
    if (path === '/readyz' || path === '/livez' || path === '/healthz') {
      status = path === '/readyz' ? this.readyzStatus : 200;
      body = status < 300 ? 'ok' : '[-]etcd failed: reason withheld\nreadyz check failed';
      type = 'text/plain';
    } else if (client) {
      this.recorder.count(this.name, 'requests', nowMs());
    }
    const reason = status === 200 ? 'OK' : 'Internal Server Error';
    const respond = (): void => {
      if (socket.destroyed) return;
      socket.write(
        `HTTP/1.1 ${status} ${reason}\r\ncontent-type: ${type}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
          `connection: ${close ? 'close' : 'keep-alive'}\r\n\r\n${body}`,
      );
      if (close) socket.end();
    };
    if (path === '/readyz' && this.readyzDelayMs > 0) setTimeout(respond, this.readyzDelayMs);
    else respond();
  }
}
