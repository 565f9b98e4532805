import { request, type IncomingMessage } from 'node:http';
import { isErrorCode } from '../runtime/error-codes.js';
import { KubeprismError, type FieldIssue } from '../runtime/errors.js';
import type { ControllerGraph } from '../runtime/graph.js';
import type { Resource } from '../runtime/resource.js';
import { formatApiAddress, parseApiAddress, type ApiAddress } from './address.js';
import { HttpError } from './http-errors.js';
import type { ResourceWatchLine, WatchLine } from './watch-stream.js';
import { LineSplitter } from '../util/line-splitter.js';
import { isPlainObject } from '../util/plain-object.js';
import { readBounded } from '../util/read-bounded.js';

/** The agent could not be reached at all (nothing listening, no socket file, no permission). */
export class UnreachableError extends KubeprismError {
  constructor(address: string, reason: string) {
    super(
      'KP_ERR_UNREACHABLE',
      `cannot reach the kubeprism agent at ${address}: ${reason} (is "kubeprism run" running there? set --api or KUBEPRISM_API)`,
    );
  }
}

/** The agent answered with an error: the same status, stable code and issues the server refused with. */
export class ApiResponseError extends HttpError {}

/** Spec of a ResourceDefinitions resource, as `GET /v1/definitions` lists them. */
export interface DefinitionSpec {
  readonly type: string;
  readonly displayType: string;
  readonly defaultNamespace: string;
  readonly aliases: readonly string[];
  /** `wide`: shown only by `get -o wide` (absent from agents that do not say). */
  readonly printColumns: ReadonlyArray<{ name: string; jsonPath: string; wide?: boolean }>;
  readonly sensitivity: 'public' | 'sensitive';
}

/** The agent's answer to `PUT /v1/config`. */
export type ApplyConfigAnswer =
  | { readonly applied: true; readonly changed: boolean; readonly version: number }
  | { readonly applied: false; readonly errors: readonly FieldIssue[] };

/** Client options. */
export interface ApiClientOptions {
  /** Deadline of each non-streaming request (default 30 s). */
  readonly timeoutMs?: number;
}

/** Where to look: type, and optionally a namespace other than the type's default. */
export interface ResourceOptions {
  readonly namespace?: string;
}

/** What to watch and how: one id or the whole type, bookmark lines, a bookmark to resume from. */
export interface WatchOptions extends ResourceOptions {
  readonly id?: string;
  readonly signal?: AbortSignal;
  /** Ask for `bookmark` lines (after the bootstrap and after each batch of changes). */
  readonly bookmarks?: boolean;
  /** Resume after this bookmark (no bootstrap); 410 `KP_ERR_BOOKMARK_EXPIRED` when it cannot be honoured. */
  readonly resume?: string;
}

const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;
const MAX_LINE_BYTES = 16 * 1024 * 1024;
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'EACCES',
  'EPERM',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTSOCK',
  'EADDRNOTAVAIL',
  'ECONNRESET',
]);

interface RawResponse {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

/** A typed client of the debug API, over loopback TCP or a unix socket; used by the CLI. */
export class ApiClient {
  readonly address: ApiAddress;
  readonly #timeoutMs: number;

  constructor(address: string | ApiAddress, options: ApiClientOptions = {}) {
    this.address = typeof address === 'string' ? parseApiAddress(address) : address;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** Every resource definition (`ResourceDefinitions` resources). */
  definitions(): Promise<Array<Resource<DefinitionSpec>>> {
    return this.#json('GET', '/v1/definitions');
  }

  /** Resources of a type (any of its names). */
  list(type: string, options: ResourceOptions = {}): Promise<Resource[]> {
    return this.#json('GET', resourcePath(type, undefined, options));
  }

  /** One resource. */
  get(type: string, id: string, options: ResourceOptions = {}): Promise<Resource> {
    return this.#json('GET', resourcePath(type, id, options));
  }

  /** Every resource of every type (sensitive specs redacted by the agent). */
  dump(): Promise<Resource[]> {
    return this.#json('GET', '/v1/resources');
  }

  /** Creates or replaces an externally fed resource (Members). */
  put(type: string, id: string, spec: unknown): Promise<Resource> {
    return this.#json('PUT', resourcePath(type, id, {}), JSON.stringify({ spec }), 'application/json');
  }

  /** Removes an externally fed resource. */
  delete(type: string, id: string): Promise<Resource> {
    return this.#json('DELETE', resourcePath(type, id, {}));
  }

  /** Offers machine-config YAML; a rejection is an answer (with its errors), not an exception. */
  async applyConfig(yaml: string): Promise<ApplyConfigAnswer> {
    const raw = await this.#request('PUT', '/v1/config', yaml, 'application/yaml');
    const body = parseJson(raw);
    if (raw.status === 400 && isPlainObject(body) && Array.isArray(body.errors))
      return { applied: false, errors: body.errors as FieldIssue[] };
    return expectOk(raw, body) as ApplyConfigAnswer;
  }

  /** The controller graph as JSON. */
  graph(): Promise<ControllerGraph> {
    return this.#json('GET', '/v1/graph');
  }

  /** The controller graph as Graphviz DOT. */
  async graphDot(): Promise<string> {
    return this.#text('GET', '/v1/graph?format=dot');
  }

  /** Prometheus text. */
  metrics(): Promise<string> {
    return this.#text('GET', '/metrics');
  }

  /**
   * Streams a type's events: current items, `bootstrapped`, then changes, until `signal` aborts (the
   * iteration then just ends). With `bookmarks`, `bookmark` lines follow the bootstrap and each batch of
   * changes; with `resume` (a bookmark seen earlier), there is no bootstrap: the changes after it, then
   * live ones. A bookmark the agent cannot honour (too old, or from before a restart) throws an
   * ApiResponseError with status 410 and code `KP_ERR_BOOKMARK_EXPIRED`: list again. An error line from
   * the agent (e.g. it is shutting down) is thrown.
   */
  watch(type: string, options: WatchOptions & { readonly bookmarks: true }): AsyncGenerator<WatchLine>;
  watch(type: string, options?: WatchOptions & { readonly bookmarks?: false }): AsyncGenerator<ResourceWatchLine>;
  watch(type: string, options: WatchOptions): AsyncGenerator<WatchLine>;
  async *watch(type: string, options: WatchOptions = {}): AsyncGenerator<WatchLine> {
    const params = new URLSearchParams();
    if (options.namespace !== undefined) params.set('namespace', options.namespace);
    params.set('watch', '1');
    if (options.bookmarks) params.set('bookmarks', '1');
    if (options.resume !== undefined) params.set('resume', options.resume);
    const path = `${resourcePath(type, options.id, {})}?${params.toString()}`;
    const res = await this.#open('GET', path, undefined, undefined, options.signal, false);
    if (res.statusCode !== 200) {
      const raw = { status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text: await readAll(res) };
      expectOk(raw, parseJson(raw));
      return;
    }
    const lines = new LineSplitter(
      MAX_LINE_BYTES,
      (max) => new ApiResponseError(0, 'KP_ERR_BAD_RESPONSE', `watch line longer than ${max} bytes`),
    );
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        for (const line of lines.push(chunk)) {
          if (line.trim() === '') continue;
          const parsed = JSON.parse(line) as unknown;
          if (isPlainObject(parsed) && isPlainObject(parsed.error)) throw errorFromBody(200, parsed);
          yield parsed as WatchLine;
        }
      }
    } catch (err) {
      if (options.signal?.aborted) return;
      throw err;
    } finally {
      res.destroy();
    }
  }

  async #json<T>(method: string, path: string, body?: string, contentType?: string): Promise<T> {
    const raw = await this.#request(method, path, body, contentType);
    return expectOk(raw, parseJson(raw)) as T;
  }

  async #text(method: string, path: string): Promise<string> {
    const raw = await this.#request(method, path);
    if (raw.status >= 400) expectOk(raw, parseJson(raw));
    return raw.text;
  }

  async #request(method: string, path: string, body?: string, contentType?: string): Promise<RawResponse> {
    const res = await this.#open(method, path, body, contentType, undefined, true);
    return { status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text: await readAll(res) };
  }

  #open(
    method: string,
    path: string,
    body: string | undefined,
    contentType: string | undefined,
    signal: AbortSignal | undefined,
    timed: boolean,
  ): Promise<IncomingMessage> {
    const where = formatApiAddress(this.address);
    const target = this.address.kind === 'unix' ? { socketPath: this.address.path } : { host: this.address.host, port: this.address.port };
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { accept: 'application/json' };
      if (body !== undefined) {
        headers['content-type'] = contentType ?? 'application/octet-stream';
        headers['content-length'] = Buffer.byteLength(body);
      }
      const req = request({ ...target, method, path, headers, ...(signal ? { signal } : {}) }, (res) => {
        resolve(res);
      });
      if (timed) {
        req.setTimeout(this.#timeoutMs, () =>
          req.destroy(Object.assign(new Error(`no answer within ${this.#timeoutMs} ms`), { code: 'ETIMEDOUT' })),
        );
      }
      req.once('error', (err: NodeJS.ErrnoException) => {
        if (signal?.aborted) return reject(err);
        if (err.code !== undefined && UNREACHABLE_CODES.has(err.code))
          reject(new UnreachableError(where, err.code === 'ETIMEDOUT' ? err.message : err.code));
        else reject(new UnreachableError(where, err.message));
      });
      req.end(body);
    });
  }
}

function resourcePath(type: string, id: string | undefined, options: ResourceOptions): string {
  let path = `/v1/resources/${encodeURIComponent(type)}`;
  // Every character that is not plain is escaped, "/" included; an id of dots only is escaped whole, so
  // that nothing on the way reads it as a "." or ".." path segment.
  if (id !== undefined) path += `/${/^\.+$/.test(id) ? id.replaceAll('.', '%2E') : encodeURIComponent(id)}`;
  if (options.namespace !== undefined) path += `?namespace=${encodeURIComponent(options.namespace)}`;
  return path;
}

async function readAll(res: IncomingMessage): Promise<string> {
  const tooLarge = (): Error => new ApiResponseError(res.statusCode ?? 0, 'KP_ERR_BAD_RESPONSE', 'response too large');
  return (await readBounded(res, MAX_RESPONSE_BYTES, tooLarge)).toString('utf8');
}

function parseJson(raw: RawResponse): unknown {
  if (!raw.contentType.includes('json')) return undefined;
  try {
    return JSON.parse(raw.text) as unknown;
  } catch {
    return undefined;
  }
}

function errorFromBody(status: number, body: Record<string, unknown>): ApiResponseError {
  const error = body.error as Record<string, unknown>;
  let message = typeof error.message === 'string' ? error.message : `HTTP ${status}`;
  // A code this client does not know (a newer agent) is kept in the message rather than lost.
  if (typeof error.code === 'string' && !isErrorCode(error.code)) message = `${error.code}: ${message}`;
  const code = isErrorCode(error.code) ? error.code : 'KP_ERR_BAD_RESPONSE';
  return new ApiResponseError(status, code, message, Array.isArray(error.issues) ? (error.issues as FieldIssue[]) : undefined);
}

function expectOk(raw: RawResponse, body: unknown): unknown {
  if (raw.status >= 200 && raw.status < 300 && body !== undefined) return body;
  if (isPlainObject(body) && isPlainObject(body.error)) throw errorFromBody(raw.status, body);
  throw new ApiResponseError(
    raw.status,
    'KP_ERR_BAD_RESPONSE',
    `unexpected answer from the agent: HTTP ${raw.status} ${raw.text.slice(0, 200)}`,
  );
}
