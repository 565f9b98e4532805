import type { ListenerState } from './listener.js';

/** One upstream as reported by {@link LoadBalancer.snapshot}. */
export interface UpstreamSnapshot {
  host: string;
  port: number;
  /** `host:port` (IPv6 bracketed): the id for resources and the metric label. */
  address: string;
  /** Usable for new connections. */
  healthy: boolean;
  /** Signed streak: +n after n good checks, -n after n failures, 0 before the first check. */
  score: number;
  /** Latency tier, 0 (<100 µs) … 5 (≥1 s); 5 until measured. */
  tier: number;
  /** Latency of the last successful check (connect, handshake and request); absent until one succeeds. */
  latencyMs?: number;
  /**
   * Proxied connections counted against the upstream now: dialing it or connected to it, until they end,
   * fail their dial or move elsewhere (the count the balancer picks by).
   */
  activeConnections: number;
  /** Proxied connections ever established. */
  totalConnections: number;
  /** Why the last check or dial failed; absent once a check succeeds. */
  lastError?: string;
  /** Bytes received from the upstream. */
  bytesIn: number;
  /** Bytes sent to the upstream. */
  bytesOut: number;
  /**
   * Dials that failed, and connections it left unanswered for `firstByteTimeoutMs` (each one marked it
   * down and moved on to the next candidate).
   */
  dialFailures: number;
}

/** The whole balancer at one moment: what the status and upstream resources are made from. */
export interface LoadBalancerSnapshot {
  listener: ListenerState;
  /** Some upstream is usable. */
  healthy: boolean;
  upstreams: UpstreamSnapshot[];
  connections: {
    /** Client connections open now (dialing or established). */
    active: number;
    /** Refused because `maxConnections` was reached. */
    refused: number;
    /** Given up because no upstream could be reached. */
    failed: number;
    /** Closed because their upstream stopped taking data. */
    stalled: number;
    /** Moved to another upstream before their first answer (it stayed silent, went down or was removed). */
    retried: number;
    /** Bytes held in the proxy's stream buffers right now. */
    bufferedBytes: number;
    /** Torn down because the proxy hit an event their state did not allow (a bug; each logged with its stack). */
    bugs: number;
  };
}
