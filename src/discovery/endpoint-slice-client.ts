import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { isIP } from 'node:net';
import { checkServerIdentity } from 'node:tls';
import {
  endpointSliceListSchema,
  endpointSliceSchema,
  KUBERNETES_SERVICE,
  SERVICE_NAME_LABEL,
  statusSchema,
  watchEventSchema,
  type EndpointSlice,
} from './endpoint-slices.js';
import { DISCOVERY_CODES, DiscoveryError } from './errors.js';
import type { ApiCredentials } from './kubeconfig.js';
import { LineSplitter } from '../util/line-splitter.js';
import { readBounded } from '../util/read-bounded.js';

/** Where and how to reach the API server: always the local KubePrism listener, with the kubeconfig's credentials. */
export interface ApiTarget {
  readonly host: string;
  readonly port: number;
  readonly credentials: ApiCredentials;
  /** The name the certificate must carry (sent as SNI when it is a DNS name). */
  readonly serverName: string;
}

/** Bounds on what one request may take: time, body size, watch line size, slice count. */
export interface ClientLimits {
  /** Until the response headers arrive; for a list, until its whole body has. */
  readonly requestTimeoutMs: number;
  readonly maxBodyBytes: number;
  readonly maxLineBytes: number;
  readonly maxSlices: number;
}

/** EndpointSlices of every kube-apiserver: `default` namespace, the `kubernetes` Service's label. */
export const SLICES_PATH = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';
const SELECTOR = `${SERVICE_NAME_LABEL}=${KUBERNETES_SERVICE}`;

/** The list request's path and query. */
export function listPath(): string {
  return `${SLICES_PATH}?${new URLSearchParams({ labelSelector: SELECTOR }).toString()}`;
}

/** The watch request's path and query: resumes at `resourceVersion`, asks for bookmarks, ends after `timeoutSeconds`. */
export function watchPath(resourceVersion: string, timeoutSeconds: number): string {
  const query = new URLSearchParams({
    labelSelector: SELECTOR,
    watch: '1',
    resourceVersion,
    allowWatchBookmarks: 'true',
    timeoutSeconds: String(timeoutSeconds),
  });
  return `${SLICES_PATH}?${query.toString()}`;
}

/** One change of the watched slices. ERROR events never come out of here: they are thrown. */
export type SliceEvent =
  | { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly slice: EndpointSlice; readonly resourceVersion?: string }
  | { readonly type: 'BOOKMARK'; readonly resourceVersion?: string };

/** The current slices and the resourceVersion to watch from. */
export interface SliceList {
  readonly resourceVersion: string;
  readonly items: EndpointSlice[];
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_|SELF_SIGNED_|UNABLE_TO_(GET|VERIFY)_|HOSTNAME_MISMATCH)/;

/** A socket-level failure as a DiscoveryError (TLS trust problems apart from plain unreachability). */
function classify(err: unknown): unknown {
  if (err instanceof DiscoveryError || (err as Error).name === 'AbortError') return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const message = `${code ? `${code}: ` : ''}${(err as Error).message}`;
  return new DiscoveryError(TLS_CODES.test(code) ? DISCOVERY_CODES.tls : DISCOVERY_CODES.unreachable, message, { cause: err });
}

/** Sends `GET path` to the target and resolves with the response once its headers are in. */
function open(target: ApiTarget, path: string, timeoutMs: number, signal: AbortSignal): Promise<IncomingMessage> {
  const { credentials: c, serverName } = target;
  return new Promise((resolve, reject) => {
    const req = request({
      host: target.host,
      port: target.port,
      path,
      method: 'GET',
      agent: false,
      signal,
      headers: {
        accept: 'application/json',
        'user-agent': 'kubeprism (kubernetes discovery)',
        ...(c.token !== undefined ? { authorization: `Bearer ${c.token}` } : {}),
      },
      ...(c.ca ? { ca: c.ca } : {}),
      ...(c.cert && c.key ? { cert: c.cert, key: c.key } : {}),
      rejectUnauthorized: !c.insecureSkipTlsVerify,
      // SNI carries DNS names only; an IP is still checked against the certificate's IP SANs.
      ...(isIP(serverName) === 0 ? { servername: serverName } : {}),
      checkServerIdentity: (_host, cert) => checkServerIdentity(serverName, cert),
    });
    const timer = setTimeout(() => {
      req.destroy(
        new DiscoveryError(DISCOVERY_CODES.timeout, `no answer from https://${target.host}:${target.port} within ${timeoutMs} ms`),
      );
    }, timeoutMs);
    req.once('response', (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(classify(err));
    });
    req.end();
  });
}

/** Reads at most `max` bytes of a body; more is a `limit` error, a broken stream is classified. */
function readBody(res: IncomingMessage, max: number): Promise<Buffer> {
  return readBounded(res, max, (limit) => new DiscoveryError(DISCOVERY_CODES.limit, `response body larger than ${limit} bytes`)).catch(
    (err: unknown) => {
      throw classify(err);
    },
  );
}

/** A non-200 answer as a DiscoveryError: 410 → gone, 401/403 → unauthorized, the Status message kept. */
async function refusal(res: IncomingMessage, what: string): Promise<DiscoveryError> {
  const status = res.statusCode ?? 0;
  const body = await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
  let detail = body.toString('utf8').slice(0, 200).trim();
  try {
    detail = statusSchema.parse(JSON.parse(detail)).message ?? detail;
  } catch {
    // Not a Status object: keep the text.
  }
  const code =
    status === 410 ? DISCOVERY_CODES.gone : status === 401 || status === 403 ? DISCOVERY_CODES.unauthorized : DISCOVERY_CODES.http;
  return new DiscoveryError(code, `${what}: HTTP ${status}${detail ? `: ${detail}` : ''}`);
}

function badResponse(what: string, detail: string): DiscoveryError {
  return new DiscoveryError(DISCOVERY_CODES.badResponse, `${what}: ${detail}`);
}

function zodDetail(error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> }): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.map(String).join('.') || 'object'}: ${issue.message}` : 'unexpected shape';
}

/** Lists the slices (one request, bounded in time and size, every item checked). */
export async function listEndpointSlices(target: ApiTarget, limits: ClientLimits, signal: AbortSignal): Promise<SliceList> {
  const what = 'list EndpointSlices';
  const started = Date.now();
  const res = await open(target, listPath(), limits.requestTimeoutMs, signal);
  if (res.statusCode !== 200) throw await refusal(res, what);
  // The rest of the time budget covers the body: a server trickling bytes is as bad as a silent one.
  const left = Math.max(1, limits.requestTimeoutMs - (Date.now() - started));
  const timer = setTimeout(
    () => res.destroy(new DiscoveryError(DISCOVERY_CODES.timeout, `${what}: body not complete within ${limits.requestTimeoutMs} ms`)),
    left,
  );
  let body: Buffer;
  try {
    body = await readBody(res, limits.maxBodyBytes);
  } finally {
    clearTimeout(timer);
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw badResponse(what, 'not JSON');
  }
  const list = endpointSliceListSchema.safeParse(json);
  if (!list.success) throw badResponse(what, zodDetail(list.error));
  const raw = list.data.items ?? [];
  if (raw.length > limits.maxSlices)
    throw new DiscoveryError(DISCOVERY_CODES.limit, `${what}: ${raw.length} slices, more than ${limits.maxSlices}`);
  const items = raw.map((item, i) => {
    const slice = endpointSliceSchema.safeParse(item);
    if (!slice.success) throw badResponse(what, `items.${i}.${zodDetail(slice.error)}`);
    return slice.data;
  });
  return { resourceVersion: list.data.metadata.resourceVersion, items };
}

/** Turns one watch line into an event; ERROR events become thrown DiscoveryErrors (410 → gone). */
export function parseWatchLine(line: string): SliceEvent {
  const what = 'watch EndpointSlices';
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    throw badResponse(what, `event is not JSON: ${JSON.stringify(line.slice(0, 80))}`);
  }
  const event = watchEventSchema.safeParse(json);
  if (!event.success) throw badResponse(what, `event ${zodDetail(event.error)}`);
  const { type, object } = event.data;
  const resourceVersion = object.metadata?.resourceVersion;
  if (type === 'ERROR') {
    const status = statusSchema.safeParse(object);
    const code = status.success ? status.data.code : undefined;
    const message = status.success ? (status.data.message ?? status.data.reason ?? 'no message') : 'unreadable Status';
    throw new DiscoveryError(
      code === 410 ? DISCOVERY_CODES.gone : DISCOVERY_CODES.watchError,
      `${what}: ERROR event ${code ?? ''}: ${message}`,
    );
  }
  if (type === 'BOOKMARK') return { type, ...(resourceVersion !== undefined ? { resourceVersion } : {}) };
  const slice = endpointSliceSchema.safeParse(object);
  if (!slice.success) throw badResponse(what, `${type} object ${zodDetail(slice.error)}`);
  return { type, slice: slice.data, ...(resourceVersion !== undefined ? { resourceVersion } : {}) };
}

/**
 * Watches the slices from `resourceVersion`, handing each event to `onEvent` (which may throw to stop);
 * `onOpen` is called once the server has accepted the watch.
 * Resolves when the server ends the stream cleanly (its `timeoutSeconds` ran out: resume from the last
 * resourceVersion); rejects on anything else: a refusal, an ERROR event, garbage, or a dropped stream.
 */
export async function watchEndpointSlices(
  target: ApiTarget,
  resourceVersion: string,
  timeoutSeconds: number,
  limits: ClientLimits,
  onEvent: (event: SliceEvent) => void,
  signal: AbortSignal,
  onOpen: () => void = () => undefined,
): Promise<void> {
  const what = 'watch EndpointSlices';
  const res = await open(target, watchPath(resourceVersion, timeoutSeconds), limits.requestTimeoutMs, signal);
  if (res.statusCode !== 200) throw await refusal(res, what);
  onOpen();
  const lines = new LineSplitter(
    limits.maxLineBytes,
    (max) => new DiscoveryError(DISCOVERY_CODES.limit, `watch event longer than ${max} bytes`),
  );
  await new Promise<void>((resolve, reject) => {
    // The server ends the watch after timeoutSeconds; one that does not is treated as a broken watch.
    const deadline = timeoutSeconds * 1000 + limits.requestTimeoutMs;
    const timer = setTimeout(
      () =>
        fail(new DiscoveryError(DISCOVERY_CODES.watchBroken, `${what}: still open ${deadline} ms after asking for ${timeoutSeconds} s`)),
      deadline,
    );
    let done = false;
    const fail = (err: unknown): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      res.destroy();
      reject(classify(err));
    };
    res.on('data', (chunk: Buffer) => {
      try {
        for (const line of lines.push(chunk)) {
          if (done) return;
          onEvent(parseWatchLine(line));
        }
      } catch (err) {
        fail(err);
      }
    });
    res.once('end', () => {
      try {
        const rest = lines.end();
        if (rest !== undefined && !done) onEvent(parseWatchLine(rest));
      } catch (err) {
        fail(err);
        return;
      }
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve();
    });
    res.once('error', (err) =>
      fail(err instanceof DiscoveryError ? err : new DiscoveryError(DISCOVERY_CODES.watchBroken, `${what}: stream broke: ${err.message}`)),
    );
    res.once('close', () => {
      if (!res.complete) fail(new DiscoveryError(DISCOVERY_CODES.watchBroken, `${what}: connection closed mid-stream`));
    });
  });
}
