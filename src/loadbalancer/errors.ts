import { KubeprismError } from '../runtime/errors.js';

/** Every upstream was tried for a client connection and none could be reached. */
export class NoUpstreamsError extends KubeprismError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('KP_ERR_NO_UPSTREAMS', message, options);
  }
}

/** The listener could not bind its address (port taken, permission denied…); retried with backoff. */
export class ListenError extends KubeprismError {
  /** The `host:port` that failed to bind. */
  readonly address: string;

  constructor(address: string, message: string, options?: { cause?: unknown }) {
    super('KP_ERR_LISTEN', message, options);
    this.address = address;
  }
}

/** A listen address outside loopback: the balancer must never be reachable from another host. */
export class NotLoopbackError extends KubeprismError {
  /** The refused host. */
  readonly host: string;

  constructor(host: string) {
    super('KP_ERR_NOT_LOOPBACK', `listen address "${host}" is not a loopback IP (127.0.0.0/8 or ::1)`);
    this.host = host;
  }
}

/** A health check failed: refused, reset, bad TLS, an unhealthy `/readyz` answer. */
export class HealthCheckError extends KubeprismError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('KP_ERR_HEALTH_CHECK', message, options);
  }
}

/** A health check or dial did not finish within its bound. */
export class TimeoutError extends KubeprismError {
  constructor(message: string) {
    super('KP_ERR_TIMEOUT', message);
  }
}

/** The balancer was used after `close()`. */
export class ClosedError extends KubeprismError {
  constructor(message = 'the load balancer is closed') {
    super('KP_ERR_CLOSED', message);
  }
}

/** A short cause for logs and status: the errno code for system errors (`ECONNREFUSED`), else the message. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== undefined && /^E[A-Z0-9]+$/.test(code) ? code : err.message;
  }
  return String(err);
}

/**
 * A proxied connection was asked to make a transition its state does not allow: a bug in the proxy, never
 * caused by input. Thrown, not ignored, so that tests fail on it.
 */
export class IllegalTransitionError extends KubeprismError {
  constructor(
    readonly from: string,
    readonly event: string,
  ) {
    super('KP_ERR_ILLEGAL_TRANSITION', `proxied connection: "${event}" is not possible in state "${from}"`);
  }
}
