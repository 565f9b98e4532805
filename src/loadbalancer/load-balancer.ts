import { isDeepStrictEqual } from 'node:util';
import { formatAddress, isLoopbackIp } from '../util/address.js';
import { componentLogger, silentLogger, type Logger } from '../runtime/logger.js';
import { systemClock, type Clock } from './clock.js';
import { ClosedError, NotLoopbackError } from './errors.js';
import { Listener } from './listener.js';
import type { LoadBalancerMetrics } from './metrics.js';
import {
  LOAD_BALANCER_DEFAULTS,
  parseLoadBalancerOptions,
  parseUpstreamEndpoints,
  type LoadBalancerOptions,
  type LoadBalancerOptionsInput,
  type UpstreamEndpoint,
} from './options.js';
import type { LoadBalancerSnapshot, UpstreamSnapshot } from './snapshot.js';
import { SocketUpstream, type CheckSettings } from './socket-upstream.js';
import type { TcpProxyOptions } from './proxy-types.js';
import { TcpProxy } from './tcp-proxy.js';
import { shouldCloseConnections } from './score.js';
import { UpstreamList, type UpstreamChange } from './upstream-list.js';

/** What a {@link LoadBalancer} is built with; all optional. */
export interface LoadBalancerDeps {
  logger?: Logger;
  /** Collectors to feed; created once per registry by the embedder. */
  metrics?: LoadBalancerMetrics;
  /** Time for health-check scheduling, bind retries, and the proxy's deadlines, sweeps and drain. */
  clock?: Clock;
  /** Jitter source (tests). */
  random?: () => number;
  /** Bind retry backoff (tests shorten it). Default 0.5 s doubling to 30 s. */
  listenBackoff?: { initialMs: number; maxMs: number };
}

/**
 * The node-local Kubernetes API load balancer: a loopback TCP listener forwarding each connection to the
 * best healthy upstream. Feed it options (`configure`) and endpoints (`setUpstreams`) in any order and
 * as often as they change; read it through `snapshot()` and `onChange`. Nothing here throws on I/O
 * trouble (a taken port is retried and reported); only invalid input throws, with a stable `code`.
 */
export class LoadBalancer {
  private options: LoadBalancerOptions = { ...LOAD_BALANCER_DEFAULTS, listen: { ...LOAD_BALANCER_DEFAULTS.listen, port: 0 } };
  /** Whether options were applied yet (the listener starts with the first). */
  private started = false;
  private readonly settings: CheckSettings = { mode: this.options.healthCheck.mode };
  private readonly list: UpstreamList<SocketUpstream>;
  private readonly proxy: TcpProxy<SocketUpstream>;
  private readonly listener: Listener;
  private readonly logger: Logger;
  private readonly metrics: LoadBalancerMetrics | undefined;
  private readonly subscribers = new Set<(snapshot: LoadBalancerSnapshot) => void>();
  private notifyQueued = false;
  private closed = false;

  constructor(deps: LoadBalancerDeps = {}) {
    const root = deps.logger ?? silentLogger();
    this.logger = componentLogger(root, 'loadbalancer');
    this.metrics = deps.metrics;
    const clock = deps.clock ?? systemClock;
    this.list = new UpstreamList<SocketUpstream>({
      clock,
      ...(deps.random ? { random: deps.random } : {}),
      ...this.options.healthCheck,
      keyOf: (u) => u.key,
      // The proxy's count (dialing or connected) is the one there is: the list reads it to pick.
      load: (u) => this.proxy.connectionsTo(u),
      onCheck: (u, result) => this.metrics?.observeCheck(u.key, result),
    });
    this.list.onChange((change) => this.onUpstreamChange(change));
    this.proxy = new TcpProxy(this.list, this.proxyOptions(), componentLogger(root, 'loadbalancer-proxy'), clock);
    this.listener = new Listener({
      logger: componentLogger(root, 'loadbalancer-listener'),
      clock,
      ...(deps.listenBackoff ? { backoff: deps.listenBackoff } : {}),
      onConnection: (socket) => this.proxy.handle(socket),
      onStateChange: () => this.notify(),
    });
    this.metrics?.attach(this);
  }

  /**
   * Apply options (validated, defaulted; see `loadBalancerOptionsSchema`). The first call starts the
   * listener; later calls move it, retime the checks, and change limits, keeping upstream state.
   * Throws ValidationError (`KP_ERR_VALIDATION`) or NotLoopbackError (`KP_ERR_NOT_LOOPBACK`).
   */
  configure(input: LoadBalancerOptionsInput): LoadBalancerOptions {
    if (this.closed) throw new ClosedError();
    const next = parseLoadBalancerOptions(input);
    this.applyOptions(next);
    return next;
  }

  /**
   * Apply options that are already complete and valid (e.g. read from a resource whose schema checked
   * them): no re-parse. Options equal to those in force change nothing. The listen host must still be
   * loopback (NotLoopbackError otherwise).
   */
  applyOptions(next: LoadBalancerOptions): void {
    if (this.closed) throw new ClosedError();
    if (!isLoopbackIp(next.listen.host)) throw new NotLoopbackError(next.listen.host);
    const prev = this.options;
    if (this.started && isDeepStrictEqual(prev, next)) return;
    this.started = true;
    this.options = { ...next, listen: { ...next.listen }, healthCheck: { ...next.healthCheck } };
    const checkChanged = next.healthCheck.mode !== prev.healthCheck.mode || next.tlsServerName !== prev.tlsServerName;
    this.settings.mode = next.healthCheck.mode;
    if (next.tlsServerName === undefined) delete this.settings.tlsServerName;
    else this.settings.tlsServerName = next.tlsServerName;
    const t = next.healthCheck;
    if (
      t.intervalMs !== prev.healthCheck.intervalMs ||
      t.timeoutMs !== prev.healthCheck.timeoutMs ||
      t.jitter !== prev.healthCheck.jitter
    ) {
      this.list.setTiming({ intervalMs: t.intervalMs, timeoutMs: t.timeoutMs, jitter: t.jitter });
    }
    if (checkChanged) this.list.checkNow(); // judge everyone by the new rule now
    this.proxy.setOptions(this.proxyOptions());
    this.listener.listen(next.listen);
    this.enforceCloseOnDown();
  }

  /**
   * Replace the upstream list; survivors keep their health state, connections and upstream object, new
   * ones are checked at once. Throws ValidationError for a malformed list.
   */
  setUpstreams(endpoints: readonly UpstreamEndpoint[]): void {
    if (this.closed) throw new ClosedError();
    const existing = new Map(this.list.entries().map(({ backend }) => [backend.key, backend]));
    // A new upstream object only for a new address: the list would drop a duplicate anyway, but
    // building one per endpoint on every call is work (and garbage) for nothing.
    const upstreams = parseUpstreamEndpoints(endpoints).map(
      (e) => existing.get(formatAddress(e.host, e.port)) ?? new SocketUpstream(e.host, e.port, this.settings),
    );
    const { removed } = this.list.reconcile(upstreams);
    for (const u of removed) this.metrics?.removeUpstream(u.key);
  }

  /** The current state: listener, overall health, every upstream with its counters. */
  snapshot(): LoadBalancerSnapshot {
    const upstreams: UpstreamSnapshot[] = this.list.entries().map(({ backend: u, state }) => {
      const live = this.proxy.liveBytes(u);
      const snap: UpstreamSnapshot = {
        host: u.host,
        port: u.port,
        address: u.key,
        healthy: state.healthy,
        score: state.score,
        tier: state.tier,
        activeConnections: this.proxy.connectionsTo(u),
        totalConnections: u.stats.totalConnections,
        bytesIn: u.stats.bytesIn + live.bytesIn,
        bytesOut: u.stats.bytesOut + live.bytesOut,
        dialFailures: u.stats.dialFailures,
      };
      if (state.latencyMs !== undefined) snap.latencyMs = state.latencyMs;
      if (state.lastError !== undefined) snap.lastError = state.lastError;
      return snap;
    });
    return {
      listener: this.listener.state(),
      healthy: this.list.anyHealthy(),
      upstreams,
      connections: {
        active: this.proxy.size(),
        refused: this.proxy.refused,
        failed: this.proxy.failed,
        stalled: this.proxy.stalled,
        retried: this.proxy.retried,
        bufferedBytes: this.proxy.bufferedBytes(),
        bugs: this.proxy.bugs,
      },
    };
  }

  /**
   * Be told when the listener state or an upstream's health, tier or score changes, or upstreams come
   * and go (not on every check or connection). Calls are coalesced: one per burst, with a fresh snapshot.
   */
  onChange(listener: (snapshot: LoadBalancerSnapshot) => void): () => void {
    this.subscribers.add(listener);
    return () => this.subscribers.delete(listener);
  }

  /** Stop accepting at once, stop checking, let connections drain up to `drainTimeoutMs`, then destroy them. */
  async close(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listener.close();
    this.list.stop();
    await this.proxy.drain(options.drainTimeoutMs ?? this.options.drainTimeoutMs);
    for (const { backend } of this.list.entries()) this.metrics?.removeUpstream(backend.key);
    this.metrics?.detach(this);
    this.logger.info('closed');
  }

  private proxyOptions(): TcpProxyOptions {
    const { maxConnections, stallTimeoutMs, dialTimeoutMs, firstByteTimeoutMs } = this.options;
    return { maxConnections, stallTimeoutMs, dialTimeoutMs, firstByteTimeoutMs };
  }

  private onUpstreamChange(change: UpstreamChange<SocketUpstream>): void {
    const { backend: u, state, previous } = change;
    if (change.type === 'updated' && previous && previous.healthy !== state.healthy) {
      const fields = { upstream: u.key, score: state.score, tier: state.tier, lastError: state.lastError };
      if (state.healthy) this.logger.info(fields, 'upstream healthy');
      else this.logger.warn(fields, 'upstream unhealthy');
    } else if (change.type !== 'updated') {
      this.logger.info({ upstream: u.key }, change.type === 'added' ? 'upstream added' : 'upstream removed');
    }
    this.enforceCloseOnDown();
    this.notify();
  }

  /**
   * Connections to an upstream that is failing (see `shouldCloseConnections`) or was removed are closed so their clients
   * reconnect elsewhere, but only while a healthy alternative exists: with none, a half-working
   * upstream beats no upstream. Not-yet-checked upstreams (score 0) are left alone.
   */
  private enforceCloseOnDown(): void {
    if (!this.options.closeConnectionsOnDown || !this.list.anyHealthy()) return;
    this.proxy.closeConnections((u) => {
      const state = this.list.state(u);
      return state === undefined || shouldCloseConnections(state);
    }, 'upstream down or removed');
  }

  private notify(): void {
    if (this.notifyQueued || this.subscribers.size === 0) return;
    this.notifyQueued = true;
    queueMicrotask(() => {
      this.notifyQueued = false;
      const snapshot = this.snapshot();
      for (const fn of [...this.subscribers]) {
        try {
          fn(snapshot);
        } catch (err) {
          this.logger.error({ err }, 'onChange listener threw');
        }
      }
    });
  }
}
