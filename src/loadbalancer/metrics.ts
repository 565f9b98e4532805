import { Histogram, type Registry } from 'prom-client';
import { registerScrapedMetric, type Sample } from '../util/scraped-metric.js';
import type { LoadBalancerSnapshot, UpstreamSnapshot } from './snapshot.js';
import type { CheckResult } from './upstream-list.js';

/** Whatever the metrics read at scrape time (a LoadBalancer). */
export interface MetricsSource {
  snapshot(): LoadBalancerSnapshot;
}

/** Options of {@link LoadBalancerMetrics}. */
export interface LoadBalancerMetricsOptions {
  /** Metric name prefix. Default `kubeprism_`. */
  prefix?: string;
  /** Check latency histogram buckets, seconds. Default: the tier bounds and points between. */
  buckets?: number[];
}

type Numeric = 'score' | 'tier' | 'activeConnections' | 'totalConnections' | 'bytesIn' | 'bytesOut' | 'dialFailures';

/**
 * The balancer's Prometheus collectors, registered on an injected registry (never the global one).
 * Gauges and counters are read from the attached balancer's snapshot at scrape time (see
 * registerScrapedMetric), so a removed upstream's series disappear with it; only the check latency
 * histogram is fed as checks happen. Create it once per registry and hand it to each LoadBalancer in turn.
 */
export class LoadBalancerMetrics {
  private source: MetricsSource | undefined;
  private cached: LoadBalancerSnapshot | undefined;
  private readonly checkDuration: Histogram<'upstream' | 'result'>;

  constructor(registry: Registry, options: LoadBalancerMetricsOptions = {}) {
    const p = options.prefix ?? 'kubeprism_';
    const perUpstream = (kind: 'gauge' | 'counter', name: string, help: string, value: (u: UpstreamSnapshot) => number): void =>
      registerScrapedMetric(registry, {
        kind,
        name: p + name,
        help,
        labelNames: ['upstream'],
        read: () => (this.read()?.upstreams ?? []).map((u): Sample<'upstream'> => [{ upstream: u.address }, value(u)]),
      });
    const field = (k: Numeric) => (u: UpstreamSnapshot) => u[k];
    perUpstream('gauge', 'upstream_healthy', 'Whether the upstream is usable for new connections (1) or not (0).', (u) =>
      u.healthy ? 1 : 0,
    );
    perUpstream('gauge', 'upstream_score', 'Health score: +n after n good checks in a row, -n after n failures.', field('score'));
    perUpstream('gauge', 'upstream_tier', 'Latency tier, 0 (<100us) to 5 (>=1s).', field('tier'));
    perUpstream('gauge', 'upstream_latency_seconds', 'Latency of the last successful health check.', (u) => (u.latencyMs ?? 0) / 1000);
    perUpstream(
      'gauge',
      'upstream_active_connections',
      'Proxied connections to the upstream now (dialing or connected).',
      field('activeConnections'),
    );
    perUpstream('counter', 'upstream_connections_total', 'Proxied connections established.', field('totalConnections'));
    perUpstream('counter', 'upstream_received_bytes_total', 'Bytes received from the upstream.', field('bytesIn'));
    perUpstream('counter', 'upstream_sent_bytes_total', 'Bytes sent to the upstream.', field('bytesOut'));
    perUpstream(
      'counter',
      'upstream_dial_failures_total',
      'Dials to the upstream that failed, and connections it left unanswered.',
      field('dialFailures'),
    );

    const global = (kind: 'gauge' | 'counter', name: string, help: string, value: (s: LoadBalancerSnapshot) => number): void =>
      registerScrapedMetric(registry, {
        kind,
        name: p + name,
        help,
        read: () => {
          const s = this.read();
          return s ? [[{}, value(s)]] : [];
        },
      });
    global('gauge', 'listener_up', 'Whether the listener is bound and accepting (1) or not (0).', (s) => (s.listener.listening ? 1 : 0));
    global('gauge', 'healthy', 'Whether some upstream is usable (1) or none (0).', (s) => (s.healthy ? 1 : 0));
    global('gauge', 'connections', 'Client connections open now.', (s) => s.connections.active);
    global('gauge', 'buffered_bytes', 'Bytes held in the proxy stream buffers.', (s) => s.connections.bufferedBytes);
    global('counter', 'connections_refused_total', 'Client connections refused over the connection limit.', (s) => s.connections.refused);
    global(
      'counter',
      'connections_failed_total',
      'Client connections given up because no upstream was reachable.',
      (s) => s.connections.failed,
    );
    global(
      'counter',
      'connections_stalled_total',
      'Connections closed because the upstream stopped taking data.',
      (s) => s.connections.stalled,
    );
    global(
      'counter',
      'connections_retried_total',
      'Connections moved to another upstream before their first answer (silent, closed, down or removed).',
      (s) => s.connections.retried,
    );
    global(
      'counter',
      'connection_bugs_total',
      'Connections torn down because the proxy hit an event their state did not allow: a bug (each logged at error with its stack).',
      (s) => s.connections.bugs,
    );

    this.checkDuration = new Histogram({
      name: p + 'upstream_check_duration_seconds',
      help: 'Duration of health checks (connect, handshake and request) by result.',
      labelNames: ['upstream', 'result'] as const,
      buckets: options.buckets ?? [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    });
  }

  /** Read gauges and counters from `source` from now on (replacing any previous one). */
  attach(source: MetricsSource): void {
    this.source = source;
  }

  /** Stop reading from `source` (a no-op if another one was attached since). */
  detach(source: MetricsSource): void {
    if (this.source === source) this.source = undefined;
  }

  /** Record one health check. */
  observeCheck(upstream: string, result: CheckResult): void {
    this.checkDuration.observe({ upstream, result: result.ok ? 'success' : 'failure' }, result.latencyMs / 1000);
  }

  /** Drop the pushed series of an upstream that left the list. */
  removeUpstream(upstream: string): void {
    this.checkDuration.remove({ upstream, result: 'success' });
    this.checkDuration.remove({ upstream, result: 'failure' });
  }

  /** One snapshot per scrape: prom-client runs every collect() in the same tick. */
  private read(): LoadBalancerSnapshot | undefined {
    if (!this.source) return undefined;
    if (!this.cached) {
      this.cached = this.source.snapshot();
      queueMicrotask(() => (this.cached = undefined));
    }
    return this.cached;
  }
}
