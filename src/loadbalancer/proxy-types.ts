/** Lifetime counters of one upstream; bytes cover closed connections (live ones are read off the sockets). */
export interface UpstreamStats {
  totalConnections: number;
  dialFailures: number;
  /** Bytes received from the upstream. */
  bytesIn: number;
  /** Bytes sent to the upstream. */
  bytesOut: number;
}

/** An upstream the proxy can dial. */
export interface ProxyUpstream {
  readonly host: string;
  readonly port: number;
  readonly stats: UpstreamStats;
}

/**
 * The policy the proxy asks for candidates and tells about outcomes (an `UpstreamList`, which reads the
 * proxy's per-upstream connection count as its `load`).
 */
export interface UpstreamPicker<U> {
  /** The next candidate, skipping those tried; undefined when none is left. Reserves nothing. */
  pick(exclude: ReadonlySet<U>): U | undefined;
  /** `timedOut`: an ambiguous failure (no answer in time), as opposed to a refusal or an error. */
  down(upstream: U, reason: string, timedOut?: boolean): void;
}

/** Limits and timeouts of the data path. */
export interface TcpProxyOptions {
  maxConnections: number;
  stallTimeoutMs: number;
  dialTimeoutMs: number;
  /** Silence of an upstream after the client spoke that moves the connection elsewhere; 0 disables. */
  firstByteTimeoutMs: number;
  keepAliveMs?: number;
}
