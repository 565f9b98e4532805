import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { testCertificate } from './certs.js';
import { TestServer } from './tcp-server.js';

/** Where the kube-apiserver publishes its EndpointSlices, and the selector discovery must send. */
export const SLICES_PATH = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';
export const SELECTOR = 'kubernetes.io/service-name=kubernetes';

/** An EndpointSlice as the API serves it (plain JSON). */
export type SliceObject = Record<string, unknown> & {
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
};

/** One endpoint of {@link apiServerSlice}: an address, ready unless told. */
export interface SliceEndpoint {
  address: string;
  ready?: boolean | null;
}

/** A `default/kubernetes` EndpointSlice like kube-apiserver writes it. */
export function apiServerSlice(
  name: string,
  endpoints: SliceEndpoint[],
  port: number,
  options: { addressType?: string; portName?: string } = {},
): SliceObject {
  return {
    metadata: {
      name,
      namespace: 'default',
      labels: { 'kubernetes.io/service-name': 'kubernetes', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    },
    addressType: options.addressType ?? 'IPv4',
    endpoints: endpoints.map((e) => ({ addresses: [e.address], conditions: e.ready === null ? {} : { ready: e.ready ?? true } })),
    ports: [{ name: options.portName ?? 'https', port, protocol: 'TCP' }],
  };
}

/** A stored change, kept so a watch can resume from an older resourceVersion. */
interface StoredEvent {
  rv: number;
  line: string;
}

/**
 * The EndpointSlices of one fake cluster with a resourceVersion counter and the change history; several
 * fake API servers can share one (one cluster, several API servers). Emits `event` (line) per change.
 */
export class SliceStore extends EventEmitter {
  resourceVersion = 1000;
  readonly slices = new Map<string, SliceObject>();
  /** Watches resuming from below this resourceVersion are answered 410 Gone (history compacted). */
  compactedBelow = 0;
  readonly #history: StoredEvent[] = [];

  /** Adds or replaces a slice (ADDED or MODIFIED). */
  set(slice: SliceObject): void {
    const type = this.slices.has(slice.metadata.name) ? 'MODIFIED' : 'ADDED';
    this.#record(type, slice);
  }

  /** Removes a slice (DELETED). */
  delete(name: string): void {
    const slice = this.slices.get(name);
    if (slice) this.#record('DELETED', slice);
  }

  /**
   * Other objects were written and the history compacted: the resourceVersion moves on and a watch
   * resuming from before it gets 410 Gone, while a fresh list (at the new resourceVersion) can be watched.
   */
  compact(): void {
    this.resourceVersion++;
    this.compactedBelow = this.resourceVersion;
    this.#history.length = 0;
  }

  /** Changes after `rv`, as watch lines. */
  since(rv: number): string[] {
    return this.#history.filter((e) => e.rv > rv).map((e) => e.line);
  }

  list(): string {
    const items = [...this.slices.values()];
    return JSON.stringify({
      kind: 'EndpointSliceList',
      apiVersion: 'discovery.k8s.io/v1',
      metadata: { resourceVersion: String(this.resourceVersion) },
      items,
    });
  }

  #record(type: 'ADDED' | 'MODIFIED' | 'DELETED', slice: SliceObject): void {
    this.resourceVersion++;
    const stored: SliceObject = { ...slice, metadata: { ...slice.metadata, resourceVersion: String(this.resourceVersion) } };
    if (type === 'DELETED') this.slices.delete(slice.metadata.name);
    else this.slices.set(slice.metadata.name, stored);
    const line = `${JSON.stringify({ type, object: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', ...stored } })}\n`;
    this.#history.push({ rv: this.resourceVersion, line });
    this.emit('event', line);
  }
}

/** What the fake saw of one request (for asserting the client's credentials, path and query). */
export interface SeenRequest {
  kind: 'list' | 'watch' | 'other';
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
  /** SNI (false when the client sent none). */
  serverName: string | false;
  /** SHA-256 fingerprint of the client certificate, when one was presented. */
  clientCert: string | undefined;
}

/** Options of a {@link FakeK8sApi}. */
export interface FakeK8sApiOptions {
  name: string;
  host?: string;
  port?: number;
  /** Shared cluster data (default: a store of its own). */
  store?: SliceStore;
  /** Bearer token accepted (default: none accepted). */
  token?: string;
  /** Client certificate fingerprint (SHA-256, as Node prints it) accepted instead of a token. */
  clientCert?: string;
}

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
};
const statusObject = (code: number, reason: string, message: string) => ({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  code,
  reason,
  message,
});

/**
 * A fake kube-apiserver over TLS serving `default/kubernetes` EndpointSlices: list, and watch with
 * resourceVersion resumption, bookmarks, `timeoutSeconds`, 410 Gone for compacted history. It checks
 * credentials (token or client certificate), path and selector, and records every request. Behaviour
 * switches (public fields) and methods make it slow, broken or rude; `stop()`/`restart()` as TestServer.
 */
export class FakeK8sApi extends TestServer {
  readonly store: SliceStore;
  readonly requests: SeenRequest[] = [];
  token: string | undefined;
  clientCert: string | undefined;
  /** Delay before answering a list. */
  listDelayMs = 0;
  /** Bodies to answer the next lists with (200), one each, instead of the real list. */
  readonly listBodies: string[] = [];
  /** HTTP statuses to answer the next watches with, one each (e.g. 410). */
  readonly watchStatuses: number[] = [];
  /** Answer a watch resuming from compacted history with HTTP 410 instead of an ERROR event. */
  goneAsHttp = false;
  readonly #watches = new Set<ServerResponse>();
  readonly #https: HttpsServer;

  private constructor(options: FakeK8sApiOptions, key: string, cert: string) {
    super(options.name, options.host ?? '127.0.0.1', options.port ?? 0, false);
    this.store = options.store ?? new SliceStore();
    this.token = options.token;
    this.clientCert = options.clientCert;
    this.#https = createHttpsServer({ key, cert, requestCert: true, rejectUnauthorized: false }, (req, res) => this.#answer(req, res));
    this.#https.on('tlsClientError', () => undefined);
  }

  /** Starts one on its host (ephemeral port unless told). */
  static async start(options: FakeK8sApiOptions): Promise<FakeK8sApi> {
    const { key, cert } = await testCertificate();
    const server = new FakeK8sApi(options, key, cert);
    await server.restart();
    return server;
  }

  /** Requests of one kind so far. */
  seen(kind: SeenRequest['kind']): SeenRequest[] {
    return this.requests.filter((r) => r.kind === kind);
  }

  /** Watches open right now. */
  get openWatches(): number {
    return this.#watches.size;
  }

  /** Sends raw text to every open watch (garbage, a partial line, anything). */
  sendRaw(text: string): void {
    for (const res of this.#watches) res.write(text);
  }

  /** Sends a BOOKMARK at the current resourceVersion to every open watch. */
  bookmark(): void {
    this.sendRaw(
      `${JSON.stringify({ type: 'BOOKMARK', object: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: String(this.store.resourceVersion) } } })}\n`,
    );
  }

  /** Sends an ERROR event (a Status with `code`) to every open watch and ends them, as kube-apiserver does. */
  sendError(code: number, reason = code === 410 ? 'Expired' : 'InternalError'): void {
    this.sendRaw(`${JSON.stringify({ type: 'ERROR', object: statusObject(code, reason, `fake ${reason}`) })}\n`);
    this.endWatches();
  }

  /** Ends every open watch cleanly, as the server's timeout would. */
  endWatches(): void {
    for (const res of this.#watches) res.end();
    this.#watches.clear();
  }

  /** Cuts every open watch mid-stream (connection destroyed). */
  dropWatches(): void {
    for (const res of this.#watches) res.socket?.destroy();
    this.#watches.clear();
  }

  override async stop(): Promise<void> {
    this.#watches.clear();
    await super.stop();
  }

  protected accept(socket: Socket): void {
    this.#https.emit('connection', socket);
  }

  #answer(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://fake');
    const tls = req.socket as TLSSocket;
    const peer = tls.getPeerCertificate?.();
    const query = url.searchParams;
    const kind = url.pathname !== SLICES_PATH ? 'other' : query.get('watch') === '1' || query.get('watch') === 'true' ? 'watch' : 'list';
    const seen: SeenRequest = {
      kind,
      path: url.pathname,
      query,
      authorization: req.headers.authorization,
      serverName: (tls as TLSSocket & { servername?: string | false }).servername ?? false,
      clientCert: peer && 'fingerprint256' in peer ? peer.fingerprint256 : undefined,
    };
    this.requests.push(seen);
    this.emit('request', seen);
    if (url.pathname === '/readyz' || url.pathname === '/livez' || url.pathname === '/healthz') return void res.end('ok');
    const authorized =
      (this.token !== undefined && seen.authorization === `Bearer ${this.token}`) ||
      (this.clientCert !== undefined && seen.clientCert === this.clientCert);
    if (!authorized) return json(res, 401, statusObject(401, 'Unauthorized', 'Unauthorized'));
    if (kind === 'other') return json(res, 404, statusObject(404, 'NotFound', `the server could not find ${url.pathname}`));
    if (query.get('labelSelector') !== SELECTOR)
      return json(res, 400, statusObject(400, 'BadRequest', `unexpected labelSelector ${query.get('labelSelector')}`));
    if (kind === 'list') {
      const body = this.listBodies.shift();
      const send = (): void => {
        res.setHeader('content-type', 'application/json');
        res.end(body ?? this.store.list());
      };
      if (this.listDelayMs > 0) setTimeout(send, this.listDelayMs);
      else send();
      return;
    }
    this.#watch(query, res);
  }

  #watch(query: URLSearchParams, res: ServerResponse): void {
    const status = this.watchStatuses.shift();
    if (status !== undefined) return json(res, status, statusObject(status, 'Expired', 'fake refusal'));
    const from = Number(query.get('resourceVersion') ?? '0');
    if (from < this.store.compactedBelow) {
      const gone = statusObject(410, 'Expired', `too old resource version: ${from} (${this.store.compactedBelow})`);
      if (this.goneAsHttp) return json(res, 410, gone);
      res.setHeader('content-type', 'application/json');
      res.end(`${JSON.stringify({ type: 'ERROR', object: gone })}\n`);
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.flushHeaders();
    for (const line of this.store.since(from)) res.write(line);
    const forward = (line: string): void => void res.write(line);
    this.store.on('event', forward);
    this.#watches.add(res);
    const seconds = Number(query.get('timeoutSeconds') ?? '0');
    const timer = seconds > 0 ? setTimeout(() => res.end(), seconds * 1000) : undefined;
    res.once('close', () => {
      clearTimeout(timer);
      this.store.off('event', forward);
      this.#watches.delete(res);
    });
  }
}
