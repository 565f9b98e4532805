import { request, createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { testCertificate } from './certs.js';
import { TestServer } from './tcp-server.js';

/** Options of a {@link FakeApiServer}; all but `name` can be changed later through the same-named fields. */
export interface FakeApiServerOptions {
  /** Identity, answered on every path but the health ones. */
  name: string;
  /** Any 127.0.0.x (default 127.0.0.1) or ::1. */
  host?: string;
  /** 0 (default) for an ephemeral port; a fixed one to come back on the same address. */
  port?: number;
  /** Delay before the TLS handshake of every connection (makes `tls`/`readyz` checks slower). */
  acceptDelayMs?: number;
  /** Delay before answering every request (makes `readyz` checks slower). */
  answerDelayMs?: number;
  /**
   * Distance of the server in the terms of a health check: no answer leaves before `latencyMs` after
   * its connection was accepted, so a fresh connect + handshake + request takes about `latencyMs`
   * (rather than the fixed test-machine overhead plus a delay).
   */
  latencyMs?: number;
  /** Status of `GET /readyz` (default 200); 500 simulates a live but broken server. */
  readyzStatus?: number;
  /** Accept TCP connections, swallow what arrives, never answer (a wedged server). */
  blackHole?: boolean;
  /** Reset every connection when its first bytes (the ClientHello) arrive (a server dying under load). */
  resetOnClientHello?: boolean;
  /** Serve this key and certificate instead of the shared test certificate (e.g. one naming a single IP). */
  certificate?: { key: string; cert: string };
  /** Answer 401 to any request but the health paths without `Authorization: Bearer <bearerToken>`. */
  bearerToken?: string;
}

/**
 * A fake Kubernetes API server over TLS with a throwaway self-signed certificate: `/readyz`, `/livez`,
 * `/healthz` health endpoints, `/version` and every other path answer JSON with its `name`. Latency,
 * readiness and black-hole mode can be switched at any time; `stop()`/`restart()` kill and revive it on
 * the same address and port; connections and requests are counted.
 */
export class FakeApiServer extends TestServer {
  readyzStatus: number;
  acceptDelayMs: number;
  answerDelayMs: number;
  latencyMs: number;
  blackHole: boolean;
  resetOnClientHello: boolean;
  bearerToken: string | undefined;
  /** Requests served, by path. */
  readonly requests = new Map<string, number>();
  /** SNI of the last TLS handshake (`false` when the client sent none). */
  lastServerName: string | false | undefined;
  private readonly https: HttpsServer;

  private constructor(options: FakeApiServerOptions, key: string, cert: string) {
    super(options.name, options.host ?? '127.0.0.1', options.port ?? 0, false);
    this.readyzStatus = options.readyzStatus ?? 200;
    this.acceptDelayMs = options.acceptDelayMs ?? 0;
    this.answerDelayMs = options.answerDelayMs ?? 0;
    this.latencyMs = options.latencyMs ?? 0;
    this.blackHole = options.blackHole ?? false;
    this.resetOnClientHello = options.resetOnClientHello ?? false;
    this.bearerToken = options.bearerToken;
    // Never listens itself: the TestServer hands it sockets, after the accept delay.
    this.https = createHttpsServer(
      {
        key,
        cert,
        // Seen in the ClientHello, before the handshake can be cut short by a client that leaves early.
        SNICallback: (servername, cb) => {
          this.lastServerName = servername;
          cb(null, undefined);
        },
      },
      (req, res) => this.answer(req, res),
    );
    this.https.on('tlsClientError', () => undefined);
  }

  /** Start one (the certificate is generated once per process). */
  static async start(options: FakeApiServerOptions): Promise<FakeApiServer> {
    const { key, cert } = options.certificate ?? (await testCertificate());
    const server = new FakeApiServer(options, key, cert);
    await server.restart();
    return server;
  }

  /** Requests served on `path` so far. */
  requestCount(path: string): number {
    return this.requests.get(path) ?? 0;
  }

  protected accept(socket: Socket): void {
    acceptedAt.set(socket, performance.now());
    this.lastServerName = false;
    if (this.blackHole) {
      socket.resume(); // read and drop, so a client that leaves is noticed and the socket closed
      return;
    }
    if (this.resetOnClientHello) {
      socket.on('error', () => undefined);
      socket.once('data', () => socket.resetAndDestroy());
      socket.resume();
      return;
    }
    const handOver = (): void => {
      if (!socket.destroyed) this.https.emit('connection', socket);
    };
    if (this.acceptDelayMs > 0) setTimeout(handOver, this.acceptDelayMs);
    else handOver();
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] as string;
    this.requests.set(path, (this.requests.get(path) ?? 0) + 1);
    this.emit('request', path);
    const respond = (): void => {
      if (path === '/readyz')
        return send(res, this.readyzStatus, this.readyzStatus < 300 ? 'ok' : '[-]etcd failed: reason withheld\nreadyz check failed');
      if (path === '/livez' || path === '/healthz') return send(res, 200, 'ok');
      if (this.bearerToken !== undefined && req.headers.authorization !== `Bearer ${this.bearerToken}`) {
        res.setHeader('content-type', 'application/json');
        return send(res, 401, JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'Unauthorized', code: 401 }));
      }
      const body =
        path === '/version' ? { name: this.name, major: '1', minor: '31', gitVersion: 'v1.31.0-fake' } : { name: this.name, path };
      res.setHeader('content-type', 'application/json');
      send(res, 200, JSON.stringify(body));
    };
    // The TLS socket keeps the raw one it wraps in `_parent` (internal but long-standing); without it,
    // latencyMs degrades to no delay rather than breaking.
    const raw = (req.socket as Socket & { _parent?: Socket })._parent ?? req.socket;
    const since = acceptedAt.get(raw);
    const delay = Math.max(this.answerDelayMs, since === undefined ? 0 : this.latencyMs - (performance.now() - since));
    if (delay > 0) setTimeout(respond, delay);
    else respond();
  }
}

/** When each raw connection was accepted (for `latencyMs`). */
const acceptedAt = new WeakMap<Socket, number>();

function send(res: ServerResponse, status: number, body: string): void {
  res.statusCode = status;
  res.setHeader('x-fake-apiserver', 'yes');
  res.end(body);
}

/** An HTTPS answer read by {@link httpsGet}. */
export interface HttpsAnswer {
  status: number;
  body: string;
}

/** `GET path` over a fresh TLS connection (no certificate check), e.g. through the balancer. */
export function httpsGet(host: string, port: number, path = '/version', timeoutMs = 5_000): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, path, agent: false, rejectUnauthorized: false, servername: 'localhost', timeout: timeoutMs },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** The `name` of the fake API server that answers `GET /version` at host:port (e.g. via the balancer). */
export async function whoAnswers(host: string, port: number): Promise<string> {
  const answer = await httpsGet(host, port, '/version');
  return (JSON.parse(answer.body) as { name: string }).name;
}

/** A raw TLS connection (no certificate check) kept open, e.g. to stand for a long-lived watch. */
export function tlsConnectTo(host: string, port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, servername: 'localhost' });
    socket.once('secureConnect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}
