import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, request, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { testCertificate } from '../harness/certs.js';
import { PatternVerifier, writePattern } from '../harness/pattern.js';
import { TestServer } from '../harness/tcp-server.js';

/**
 * An HTTPS upstream that serves long transfers, like an API server's watch or list streams:
 * `GET /stream/<id>/<bytes>` answers `bytes` of pattern stream `id` (checked byte for byte by the client),
 * honouring backpressure, with its name in `x-upstream`. `/readyz` answers 200 after `latencyMs`, so every
 * upstream sits in the same latency tier (10-100 ms) and least-connections spreads clients between them.
 * `stop()`/`restart()` kill and revive it on the same port (TestServer).
 */
export class StreamApiServer extends TestServer {
  latencyMs: number;
  /** Transfers started on this server. */
  transfers = 0;
  private readonly https: Server;

  private constructor(name: string, host: string, latencyMs: number, key: string, cert: string) {
    super(name, host, 0, false);
    this.latencyMs = latencyMs;
    this.https = createServer({ key, cert }, (req, res) => this.answer(req, res));
    this.https.on('tlsClientError', () => undefined);
  }

  /** Starts one on an ephemeral port of `host` (30 ms away unless told). */
  static async start(options: { name: string; host: string; latencyMs?: number }): Promise<StreamApiServer> {
    const { key, cert } = await testCertificate();
    const server = new StreamApiServer(options.name, options.host, options.latencyMs ?? 30, key, cert);
    await server.restart();
    return server;
  }

  protected accept(socket: Socket): void {
    this.https.emit('connection', socket);
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/readyz') {
      setTimeout(() => res.end('ok'), this.latencyMs);
      return;
    }
    const match = /^\/stream\/(\d+)\/(\d+)$/.exec(path);
    if (!match) {
      res.statusCode = 404;
      res.end();
      return;
    }
    const [id, bytes] = [Number(match[1]), Number(match[2])];
    this.transfers++;
    res.writeHead(200, { 'content-length': bytes, 'x-upstream': this.name });
    writePattern(res, id, bytes).then(
      () => res.end(),
      () => undefined, // killed mid-transfer: the client sees the cut
    );
  }
}

/** How one transfer through the balancer ended. */
export interface TransferResult {
  /** Name of the upstream that answered; undefined when no answer arrived. */
  readonly upstream: string | undefined;
  /** All bytes arrived and matched. */
  readonly complete: boolean;
  readonly received: number;
  /** First mismatch (corruption), if any: never expected, even for a cut transfer. */
  readonly corruption: string | undefined;
  /** Why it ended early (connection error before or during the answer). */
  readonly error: string | undefined;
}

/** A transfer in progress (see {@link startTransfer}). */
export interface Transfer {
  /** Resolves with the upstream's name once the answer's headers arrived. */
  readonly answered: Promise<string>;
  /** Resolves once `pauseAfter` bytes arrived and reading paused (never, without `pauseAfter`). */
  readonly paused: Promise<void>;
  /** Reading again after a pause. */
  resume(): void;
  readonly done: Promise<TransferResult>;
  /** Where it stands now (for failure messages). */
  progress(): { upstream: string | undefined; received: number; ended: boolean };
}

/**
 * `GET /stream/<id>/<bytes>` through the balancer at 127.0.0.1:`port` on a fresh TLS connection, every
 * byte checked against the pattern. With `pauseAfter`, reading stops after that many bytes until
 * `resume()`: the transfer stays in flight (backpressure holds the upstream) for as long as a test wants.
 */
export function startTransfer(port: number, id: number, bytes: number, pauseAfter?: number): Transfer {
  const verifier = new PatternVerifier(id, bytes);
  let upstream: string | undefined;
  let onAnswered: (name: string) => void = () => undefined;
  let onPaused: () => void = () => undefined;
  let response: IncomingMessage | undefined;
  let ended = false;
  const answered = new Promise<string>((resolve) => (onAnswered = resolve));
  const paused = new Promise<void>((resolve) => (onPaused = resolve));
  const done = new Promise<TransferResult>((resolve) => {
    let error: string | undefined;
    const finish = (): void => {
      ended = true;
      resolve({ upstream, complete: verifier.complete, received: verifier.received, corruption: verifier.error, error });
    };
    const req = request(
      { host: '127.0.0.1', port, path: `/stream/${id}/${bytes}`, agent: false, rejectUnauthorized: false, servername: 'localhost' },
      (res) => {
        response = res;
        upstream = String(res.headers['x-upstream']);
        onAnswered(upstream);
        let pausedOnce = false;
        res.on('data', (chunk: Buffer) => {
          verifier.push(chunk);
          if (pauseAfter !== undefined && !pausedOnce && verifier.received >= pauseAfter) {
            pausedOnce = true;
            res.pause();
            onPaused();
          }
        });
        res.on('error', (err) => (error ??= err.message));
        res.on('close', finish);
      },
    );
    req.on('error', (err) => {
      error ??= err.message;
      if (!response) finish();
    });
    req.end();
  });
  return { answered, paused, resume: () => response?.resume(), done, progress: () => ({ upstream, received: verifier.received, ended }) };
}
