import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { backoffDelay, componentLogger, KubeprismError, silentLogger, type BackoffOptions, type Logger } from '../runtime/index.js';
import { formatAddress } from '../util/address.js';
import { parseApiAddress } from './address.js';
import { sendJson } from './resources.js';

/** Code of a `--metrics-address` that cannot be used as written. */
export const METRICS_ADDRESS_ERROR = 'KP_ERR_METRICS_ADDRESS';
/** Code of a metrics address that could not be bound (taken, not on this host, not permitted). */
export const METRICS_LISTEN_ERROR = 'KP_ERR_METRICS_LISTEN';

/** The metrics listener's address is invalid or could not be bound; the previous one, if any, stays. */
export class MetricsServerError extends KubeprismError {
  constructor(code: typeof METRICS_ADDRESS_ERROR | typeof METRICS_LISTEN_ERROR, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Where the metrics listener binds: an IP literal (any interface, not only loopback) and a port. */
export interface MetricsAddress {
  readonly host: string;
  readonly port: number;
}

/** Parses `host:port` or `[ipv6]:port` (`localhost` is 127.0.0.1); names and unix sockets are refused. */
export function parseMetricsAddress(text: string): MetricsAddress {
  let parsed;
  try {
    parsed = parseApiAddress(text);
  } catch (err) {
    throw new MetricsServerError(METRICS_ADDRESS_ERROR, `invalid metrics address "${text}": want host:port or [ipv6]:port`, { cause: err });
  }
  if (parsed.kind !== 'tcp') {
    throw new MetricsServerError(
      METRICS_ADDRESS_ERROR,
      `invalid metrics address "${text}": Prometheus scrapes TCP; want host:port or [ipv6]:port`,
    );
  }
  // An IP literal binds exactly what was asked; a name could resolve to anything, or to several addresses.
  if (isIP(parsed.host) === 0) {
    throw new MetricsServerError(
      METRICS_ADDRESS_ERROR,
      `invalid metrics address "${text}": "${parsed.host}" is not an IP address (use 0.0.0.0:PORT or [::]:PORT for every interface)`,
    );
  }
  return { host: parsed.host, port: parsed.port };
}

/** Options of {@link MetricsServer}. */
export interface MetricsServerOptions {
  /** The registry served on GET /metrics (the agent's: the same text as the debug API's /metrics). */
  readonly registry: Registry;
  readonly logger?: Logger;
  /** Whether GET /healthz answers 200 (default: always). */
  readonly ready?: () => boolean;
  /** Retries of {@link MetricsServer.serve} while its address cannot be bound (default 1 s growing to 30 s). */
  readonly retryBackoff?: BackoffOptions;
}

interface Binding {
  readonly server: Server;
  /** What was asked for (port 0 stays 0), to tell a real change from the same setting again. */
  readonly requested: MetricsAddress;
  readonly bound: MetricsAddress;
}

const MAX_CONNECTIONS = 64;
const CLOSE_GRACE_MS = 2_000;
const RETRY_BACKOFF: BackoffOptions = { initialMs: 1_000, maxMs: 30_000, multiplier: 2, jitter: 0.2 };

/**
 * A read-only HTTP listener for Prometheus: GET /metrics and GET /healthz only (404 for any other path,
 * 405 for any other method), on any address, unlike the loopback-only debug API. Off until an address
 * is set; the address can change while running: the new one is bound before the old one is let go, and
 * a failed change leaves the old one serving.
 */
export class MetricsServer {
  readonly #registry: Registry;
  readonly #logger: Logger;
  readonly #ready: () => boolean;
  readonly #retryBackoff: BackoffOptions;
  #current: Binding | undefined;
  /** The address last asked for: a pending retry gives up once another one is asked for. */
  #desired: MetricsAddress | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #lastError: MetricsServerError | undefined;
  /** Address changes run one at a time, in the order asked. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: MetricsServerOptions) {
    this.#registry = options.registry;
    this.#logger = componentLogger(options.logger ?? silentLogger(), 'metrics');
    this.#ready = options.ready ?? (() => true);
    this.#retryBackoff = options.retryBackoff ?? RETRY_BACKOFF;
  }

  /** Starts a server on `address` (a convenience for `new` + `setAddress`). */
  static async listen(options: MetricsServerOptions & { address: string | MetricsAddress }): Promise<MetricsServer> {
    const server = new MetricsServer(options);
    await server.setAddress(options.address);
    return server;
  }

  /** The address bound (with the real port when 0 was asked for); undefined while off. */
  get address(): MetricsAddress | undefined {
    return this.#current?.bound;
  }

  /**
   * Serves on `address` from now on (`undefined` turns the listener off). The same address again changes
   * nothing. Rejects with a MetricsServerError when the address is invalid or cannot be bound; whatever
   * was serving before then still serves.
   */
  async setAddress(address: string | MetricsAddress | undefined): Promise<void> {
    const wanted = typeof address === 'string' ? parseMetricsAddress(address) : address;
    this.#desired = wanted;
    clearTimeout(this.#retryTimer);
    await this.#enqueue(wanted);
  }

  /**
   * Like setAddress, but an address that cannot be bound (port taken, address not on this host yet) is
   * retried with backoff until it binds or another address is asked for; resolves after the first
   * attempt either way (`lastError` says how it went). Rejects only for an invalid address.
   */
  async serve(address: string | MetricsAddress | undefined): Promise<void> {
    const wanted = typeof address === 'string' ? parseMetricsAddress(address) : address;
    this.#desired = wanted;
    clearTimeout(this.#retryTimer);
    await this.#attempt(wanted, 1);
  }

  /** Why the last address change failed; undefined once one succeeded. */
  get lastError(): MetricsServerError | undefined {
    return this.#lastError;
  }

  /** Stops listening and closes every connection (after a short grace for requests in flight). */
  close(): Promise<void> {
    return this.setAddress(undefined);
  }

  async #attempt(wanted: MetricsAddress | undefined, attempt: number): Promise<void> {
    try {
      await this.#enqueue(wanted);
    } catch (err) {
      if (this.#desired !== wanted) return; // superseded meanwhile
      const delayMs = backoffDelay(attempt, this.#retryBackoff);
      this.#logger.warn({ err, retryInMs: delayMs }, 'cannot serve metrics yet; retrying');
      this.#retryTimer = setTimeout(() => {
        if (this.#desired === wanted) void this.#attempt(wanted, attempt + 1);
      }, delayMs);
      this.#retryTimer.unref();
    }
  }

  #enqueue(wanted: MetricsAddress | undefined): Promise<void> {
    const run = this.#queue.then(() => this.#apply(wanted));
    this.#queue = run.then(
      () => (this.#lastError = undefined),
      (err: unknown) => (this.#lastError = err instanceof MetricsServerError ? err : undefined),
    );
    return run;
  }

  async #apply(wanted: MetricsAddress | undefined): Promise<void> {
    const old = this.#current;
    if (wanted === undefined) {
      this.#current = undefined;
      if (old) await this.#release(old);
      return;
    }
    if (old && old.requested.host === wanted.host && old.requested.port === wanted.port) return;
    let binding: Binding;
    let oldReleased = false;
    try {
      binding = await this.#bind(wanted);
    } catch (err) {
      // The same port on an overlapping address (127.0.0.1:9100 → 0.0.0.0:9100) cannot be bound while
      // the old listener holds it: let the old one go first, and take it back if the new one fails.
      if (!old || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || old.bound.port !== wanted.port)
        throw this.#bindError(wanted, err);
      this.#current = undefined;
      await this.#release(old);
      oldReleased = true;
      try {
        binding = await this.#bind(wanted);
      } catch (second) {
        this.#current = await this.#bind(old.requested).catch((third: unknown) => {
          const address = formatAddress(old.requested.host, old.requested.port);
          this.#logger.error({ err: third, address }, 'cannot serve metrics on the previous address again');
          return undefined;
        });
        throw this.#bindError(wanted, second);
      }
    }
    this.#current = binding;
    if (old && !oldReleased) await this.#release(old);
    this.#logger.info({ address: formatAddress(binding.bound.host, binding.bound.port) }, 'metrics listening');
  }

  #bindError(wanted: MetricsAddress, err: unknown): MetricsServerError {
    const reason = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    return new MetricsServerError(METRICS_LISTEN_ERROR, `cannot serve metrics on ${formatAddress(wanted.host, wanted.port)}: ${reason}`, {
      cause: err,
    });
  }

  async #bind(requested: MetricsAddress): Promise<Binding> {
    const server = createServer({ headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000 }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#logger.error({ err, url: req.url }, 'metrics request failed');
        if (!res.headersSent) sendJson(res, 500, { error: { code: 'KP_ERR_INTERNAL', message: 'cannot collect metrics' } });
        else res.destroy();
      });
    });
    server.maxConnections = MAX_CONNECTIONS;
    server.on('clientError', (_err, socket) => {
      // Garbage on the wire (this listener may face the network): a 400 when it still takes it, never a crash.
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: requested.host, port: requested.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.#logger.error({ err }, 'metrics server error'));
    const { port } = server.address() as AddressInfo;
    return { server, requested, bound: { host: requested.host, port } };
  }

  async #release(binding: Binding): Promise<void> {
    const closed = new Promise<void>((resolve) => binding.server.close(() => resolve()));
    binding.server.closeIdleConnections();
    const grace = setTimeout(() => binding.server.closeAllConnections(), CLOSE_GRACE_MS);
    await closed;
    clearTimeout(grace);
    this.#logger.info({ address: formatAddress(binding.bound.host, binding.bound.port) }, 'metrics listener closed');
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/metrics' && path !== '/healthz') {
      res.setHeader('connection', 'close');
      return sendJson(res, 404, {
        error: { code: 'KP_ERR_NOT_FOUND', message: `no route ${path ?? ''}; this listener serves GET /metrics and /healthz only` },
      });
    }
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      res.setHeader('connection', 'close');
      return sendJson(res, 405, { error: { code: 'KP_ERR_METHOD_NOT_ALLOWED', message: `${method} is not allowed on ${path}; use GET` } });
    }
    if (path === '/healthz') {
      const ok = this.#ready();
      return sendJson(res, ok ? 200 : 503, { status: ok ? 'ok' : 'unavailable' });
    }
    const text = await this.#registry.metrics();
    res.writeHead(200, { 'content-type': this.#registry.contentType, 'cache-control': 'no-store' });
    res.end(text);
  }
}
