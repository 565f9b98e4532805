import { unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Registry } from 'prom-client';
import type { ApplyResult } from '../agent/machine-config-source.js';
import type { MemberSpec } from '../config/index.js';
import { MemberType } from '../resources/index.js';
import {
  componentLogger,
  graphToDot,
  silentLogger,
  type ControllerGraph,
  type ErrorCode,
  type Logger,
  type Resource,
  type State,
} from '../runtime/index.js';
import { assertLocalAddress, formatApiAddress, parseApiAddress, type ApiAddress } from './address.js';
import { DEFAULT_MAX_BODY_BYTES, readBody } from './body.js';
import { bindServer } from './listen.js';
import { API_CODES, badRequest, describeError, HttpError } from './http-errors.js';
import {
  checkId,
  deleteResource,
  listEverything,
  present,
  putResource,
  resolveTarget,
  sendJson,
  type ExternalType,
  type ResourceContext,
} from './resources.js';
import { streamWatch } from './watch-stream.js';

/** What the API serves: the agent (or anything shaped like it). */
export interface ApiBackend {
  readonly state: State;
  readonly engine: { graph(): ControllerGraph };
  readonly metrics: Registry;
  applyConfig(text: string, source: string): Promise<ApplyResult>;
  putMember(id: string, spec: MemberSpec, source: string): Promise<Resource<MemberSpec>>;
  removeMember(id: string): Promise<boolean>;
}

/** Options of {@link ApiServer.listen}. */
export interface ApiServerOptions {
  readonly backend: ApiBackend;
  /** `host:port` (loopback only), `[::1]:port` or `unix:/path`; port 0 picks a free port. */
  readonly address: string | ApiAddress;
  readonly logger?: Logger;
  /** Largest request body (default 1 MiB). */
  readonly maxBodyBytes?: number;
  /** Unsent bytes a watch stream may hold before its client counts as not reading (default 1 MiB). */
  readonly maxWatchBufferBytes?: number;
  /** Whether `/healthz` answers 200 (default: always). */
  readonly ready?: () => boolean;
}

const MAX_CONNECTIONS = 256;
const WATCH_LINGER_MS = 5_000;
const CLOSE_GRACE_MS = 2_000;

/** The debug/control HTTP API on loopback or a unix socket (routes: DESIGN.md "Command line and debug API"). */
export class ApiServer {
  readonly #server: Server;
  readonly #logger: Logger;
  readonly #backend: ApiBackend;
  readonly #ctx: ResourceContext;
  readonly #ready: () => boolean;
  readonly #maxWatchBuffer: number;
  readonly #watches = new Set<(code: ErrorCode, message: string) => void>();
  #address: ApiAddress;
  /** Open connections and how many requests each has in flight: idle ones are dropped at close. */
  readonly #connections = new Map<Socket, number>();
  #closing: Promise<void> | undefined;

  private constructor(options: ApiServerOptions, address: ApiAddress) {
    this.#backend = options.backend;
    this.#logger = componentLogger(options.logger ?? silentLogger(), 'api');
    this.#ready = options.ready ?? (() => true);
    this.#maxWatchBuffer = options.maxWatchBufferBytes ?? 1024 * 1024;
    this.#address = address;
    const members: ExternalType = {
      definition: MemberType,
      put: (id, spec) => this.#backend.putMember(id, spec as MemberSpec, 'api'),
      remove: (id) => this.#backend.removeMember(id),
    };
    this.#ctx = {
      state: options.backend.state,
      graph: () => this.#backend.engine.graph(),
      external: new Map([[MemberType.type, members]]),
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    };
    this.#server = createServer({ headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000 }, (req, res) => {
      this.#track(req, res);
      this.#handle(req, res).catch((err: unknown) => this.#fail(req, res, err));
    });
    this.#server.maxConnections = MAX_CONNECTIONS;
    this.#server.on('connection', (socket: Socket) => {
      this.#connections.set(socket, 0);
      socket.once('close', () => this.#connections.delete(socket));
    });
    this.#server.on('clientError', (err, socket) => {
      // Garbage on the wire: answer 400 when the socket still takes it, never crash.
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      else socket.destroy();
      this.#logger.debug({ err }, 'malformed HTTP request');
    });
  }

  /** Checks the address (loopback or unix socket only) and starts listening. */
  static async listen(options: ApiServerOptions): Promise<ApiServer> {
    const address = typeof options.address === 'string' ? parseApiAddress(options.address) : options.address;
    assertLocalAddress(address);
    const api = new ApiServer(options, address);
    await api.#listen();
    api.#logger.info({ address: formatApiAddress(api.address) }, 'debug API listening');
    return api;
  }

  /** The address actually bound (with the real port when 0 was asked for). */
  get address(): ApiAddress {
    return this.#address;
  }

  async #listen(): Promise<void> {
    this.#address = await bindServer(this.#server, this.#address);
    this.#server.on('error', (err) => this.#logger.error({ err }, 'debug API server error'));
  }

  /** Stops accepting, ends watch streams, lets running requests finish for a short grace, then closes. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    for (const end of [...this.#watches]) end(API_CODES.shuttingDown, 'the agent is shutting down');
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    // Node's closeIdleConnections() misses connections that never sent a request; drop every idle one.
    for (const [socket, inFlight] of this.#connections) if (inFlight === 0) socket.destroy();
    const grace = setTimeout(() => {
      this.#logger.warn(
        { graceMs: CLOSE_GRACE_MS, inFlight: [...this.#connections.values()].reduce((a, b) => a + b, 0) },
        'requests still running after the grace period; closing their connections',
      );
      this.#server.closeAllConnections();
    }, CLOSE_GRACE_MS);
    await closed;
    clearTimeout(grace);
    if (this.#address.kind === 'unix') {
      try {
        unlinkSync(this.#address.path);
      } catch {
        // Already gone (node removes it on close on some platforms).
      }
    }
  }

  #track(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    this.#connections.set(socket, (this.#connections.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const left = (this.#connections.get(socket) ?? 1) - 1;
      this.#connections.set(socket, left);
      // While closing, a connection is let go as soon as its last request is answered.
      if (left === 0 && this.#closing !== undefined) socket.end();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://kubeprism.invalid');
    } catch {
      throw badRequest('malformed request URL');
    }
    // The raw path, not the URL's: URL parsing folds "." and ".." segments, and those are valid ids.
    const target = req.url ?? '/';
    const rawPath = target.startsWith('/') ? (target.split('?', 1)[0] ?? '/') : url.pathname;
    const segments = rawPath.split('/').slice(1);
    if (segments.length > 1 && segments.at(-1) === '') segments.pop();
    let parts: string[];
    try {
      parts = segments.map((s) => decodeURIComponent(s));
    } catch {
      throw badRequest('malformed percent-encoding in the request path');
    }
    const method = req.method ?? 'GET';
    const route = parts.join('/');
    const allow = (...methods: string[]): void => {
      if (!methods.includes(method)) {
        res.setHeader('allow', methods.join(', '));
        throw new HttpError(405, API_CODES.methodNotAllowed, `${method} is not allowed on ${url.pathname}; use ${methods.join(' or ')}`);
      }
    };
    if (route === 'healthz') {
      allow('GET');
      const ok = this.#ready() && this.#closing === undefined;
      return sendJson(res, ok ? 200 : 503, { status: ok ? 'ok' : 'unavailable' });
    }
    if (route === 'metrics') {
      allow('GET');
      const text = await this.#backend.metrics.metrics();
      res.writeHead(200, { 'content-type': this.#backend.metrics.contentType });
      res.end(text);
      return;
    }
    if (route === 'v1/definitions') {
      allow('GET');
      return sendJson(res, 200, await this.#ctx.state.list({ namespace: 'meta', type: 'ResourceDefinitions.meta.cosi.dev' }));
    }
    if (route === 'v1/graph') {
      allow('GET');
      return this.#graph(res, url.searchParams.get('format'));
    }
    if (route === 'v1/config') {
      allow('PUT');
      return this.#applyConfig(req, res);
    }
    if (parts[0] === 'v1' && parts[1] === 'resources' && parts.length <= 4 && parts.every((p) => p !== '')) {
      return this.#resources(req, res, method, url, parts.slice(2), allow);
    }
    throw new HttpError(
      404,
      API_CODES.notFound,
      `no route ${method} ${url.pathname}; see GET /v1/definitions, /v1/resources, /v1/graph, /metrics, /healthz`,
    );
  }

  async #resources(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    url: URL,
    rest: string[],
    allow: (...m: string[]) => void,
  ): Promise<void> {
    const state = this.#ctx.state;
    const [typeName, id] = rest;
    const flag = (name: string): boolean => ['1', 'true'].includes(url.searchParams.get(name) ?? '');
    const watch = flag('watch');
    const bookmarks = flag('bookmarks');
    const resume = url.searchParams.get('resume') ?? undefined;
    if (!watch && (bookmarks || resume !== undefined)) throw badRequest('bookmarks and resume apply to a watch; add watch=1');
    if (typeName === undefined) {
      allow('GET');
      return sendJson(res, 200, await listEverything(state));
    }
    if (id === undefined) allow('GET');
    else allow('GET', 'PUT', 'DELETE');
    if (id !== undefined) checkId(id);
    const target = resolveTarget(state, typeName, url.searchParams.get('namespace'));
    if (method === 'PUT' && id !== undefined) {
      const { status, body } = await putResource(this.#ctx, req, target, id);
      return sendJson(res, status, body);
    }
    if (method === 'DELETE' && id !== undefined) {
      const { status, body } = await deleteResource(this.#ctx, target, id);
      return sendJson(res, status, body);
    }
    if (watch) {
      const end = streamWatch(res, {
        state,
        kind: target.kind,
        ...(id !== undefined ? { query: { idRegexp: new RegExp(`^${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) } } : {}),
        bookmarks,
        ...(resume !== undefined ? { resume } : {}),
        present: (r) => present(state, r),
        maxBufferedBytes: this.#maxWatchBuffer,
        lingerMs: WATCH_LINGER_MS,
        logger: this.#logger,
      });
      this.#watches.add(end);
      res.once('close', () => this.#watches.delete(end));
      return;
    }
    if (id === undefined)
      return sendJson(
        res,
        200,
        (await state.list(target.kind)).map((r) => present(state, r)),
      );
    return sendJson(res, 200, present(state, await state.get({ ...target.kind, id })));
  }

  #graph(res: ServerResponse, format: string | null): void {
    const graph = this.#backend.engine.graph();
    if (format === 'dot') {
      res.writeHead(200, { 'content-type': 'text/vnd.graphviz; charset=utf-8' });
      res.end(graphToDot(graph));
      return;
    }
    if (format !== null && format !== 'json') throw badRequest(`unknown graph format "${format}"; use json or dot`);
    sendJson(res, 200, graph);
  }

  async #applyConfig(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readBody(req, this.#ctx.maxBodyBytes);
    const result = await this.#backend.applyConfig(text, 'api');
    if (result.applied) return sendJson(res, 200, { applied: true, changed: result.changed, version: result.version });
    const errors =
      result.issues.length > 0 ? result.issues.map((i) => ({ path: i.path, message: i.message })) : [{ path: '', message: result.message }];
    sendJson(res, 400, { errors });
  }

  #fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    const { status, code, message, issues } = describeError(err);
    if (status >= 500) this.#logger.error({ err, method: req.method, url: req.url }, 'request failed');
    else this.#logger.debug({ code, method: req.method, url: req.url, status }, 'request refused');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (status === 413 || !req.complete) {
      // The rest of the body is not wanted: say so, drain a bounded amount, and drop the connection.
      res.setHeader('connection', 'close');
      req.resume();
      const drop = setTimeout(() => req.socket.destroy(), CLOSE_GRACE_MS);
      drop.unref();
      req.socket.once('close', () => clearTimeout(drop));
    }
    sendJson(res, status, { error: { code, message, ...(issues ? { issues } : {}) } });
  }
}
