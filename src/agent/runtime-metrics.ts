import type { Registry } from 'prom-client';
import type { ControllerStatus, Engine, QueueStats } from '../runtime/index.js';
import { registerScrapedMetric, type Sample } from '../util/scraped-metric.js';

/**
 * Registers per-controller counters (read from the engine at scrape time) on a registry. They count as
 * COSI's controller metrics do: a wake-up when a round is scheduled (the initial one included), a read or
 * a write for every store call made through the controller's context; queue-based controllers add their
 * queue counters.
 */
export function registerControllerMetrics(registry: Registry, engine: Engine, prefix = 'kubeprism_'): void {
  const perController = (kind: 'gauge' | 'counter', name: string, help: string, value: (s: ControllerStatus) => number): void =>
    registerScrapedMetric(registry, {
      kind,
      name: `${prefix}controller_${name}`,
      help,
      labelNames: ['controller'],
      read: () => engine.stats().map((s): Sample<'controller'> => [{ controller: s.name }, value(s)]),
    });
  const perQueue = (kind: 'gauge' | 'counter', name: string, help: string, value: (q: QueueStats) => number): void =>
    registerScrapedMetric(registry, {
      kind,
      name: `${prefix}controller_queue_${name}`,
      help,
      labelNames: ['controller'],
      read: () => engine.stats().flatMap((s): Array<Sample<'controller'>> => (s.queue ? [[{ controller: s.name }, value(s.queue)]] : [])),
    });
  perController('counter', 'wakeups_total', 'Reconcile rounds scheduled for the controller, the initial one included.', (s) => s.wakeups);
  perController('counter', 'reads_total', 'Store reads (get, list, watch) made through the controller context.', (s) => s.reads);
  perController(
    'counter',
    'writes_total',
    'Store writes (create, update, destroy, finalizers) made through the controller context.',
    (s) => s.writes,
  );
  perController('counter', 'crashes_total', 'Times the controller failed and was restarted.', (s) => s.crashes);
  perController('gauge', 'backing_off', 'Whether the controller is waiting out a restart backoff (1) or running (0).', (s) =>
    s.backingOff ? 1 : 0,
  );
  perQueue('counter', 'processed_total', 'Items a queue-based controller reconciled.', (q) => q.processed);
  perQueue('counter', 'failures_total', 'Item reconciles and mappings that failed (retried with backoff).', (q) => q.failures);
  perQueue('counter', 'requeues_total', 'Items that asked to be reconciled again later.', (q) => q.requeues);
  perQueue('counter', 'mapped_total', 'Mapped-input changes turned into primary items.', (q) => q.mapped);
  perQueue('gauge', 'length', 'Items waiting in the queue: ready, in progress or delayed.', (q) => q.queued);
}
