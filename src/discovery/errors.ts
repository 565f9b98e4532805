import { KubeprismError } from '../runtime/index.js';

/** Stable codes of the Kubernetes discovery source's failures; the status resource carries them. */
export const DISCOVERY_CODES = {
  /** The kubeconfig is missing, unreadable, or asks for something unsupported (exec plugins…). */
  credentials: 'KP_ERR_DISCOVERY_CREDENTIALS',
  /** No connection: refused, reset, or KubePrism found no upstream to forward to. */
  unreachable: 'KP_ERR_DISCOVERY_UNREACHABLE',
  /** The TLS handshake failed: certificate not trusted or not for the expected name. */
  tls: 'KP_ERR_DISCOVERY_TLS',
  /** No answer (or no progress) within the request timeout. */
  timeout: 'KP_ERR_DISCOVERY_TIMEOUT',
  /** 401/403: the credentials are refused or may not list EndpointSlices. */
  unauthorized: 'KP_ERR_DISCOVERY_UNAUTHORIZED',
  /** Any other non-200 answer. */
  http: 'KP_ERR_DISCOVERY_HTTP',
  /** 410 Gone (HTTP or an ERROR event): the resourceVersion is too old; re-list. */
  gone: 'KP_ERR_DISCOVERY_GONE',
  /** An ERROR watch event other than 410. */
  watchError: 'KP_ERR_DISCOVERY_WATCH_ERROR',
  /** The watch stream ended abnormally (connection dropped mid-stream). */
  watchBroken: 'KP_ERR_DISCOVERY_WATCH_BROKEN',
  /** Not JSON, or not the shape of an EndpointSlice list or watch event. */
  badResponse: 'KP_ERR_DISCOVERY_BAD_RESPONSE',
  /** A body, line or object count beyond the source's bounds. */
  limit: 'KP_ERR_DISCOVERY_LIMIT',
} as const;

/** One of {@link DISCOVERY_CODES}. */
export type DiscoveryCode = (typeof DISCOVERY_CODES)[keyof typeof DISCOVERY_CODES];

/** A failure of the Kubernetes discovery source; `code` says which kind, the message says what exactly. */
export class DiscoveryError extends KubeprismError {
  declare readonly code: DiscoveryCode;

  constructor(code: DiscoveryCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
