import type { Registry } from 'prom-client';
import type { ControllerStatus, Engine } from '../runtime/index.js';
import { registerScrapedMetric, type Sample } from '../util/scraped-metric.js';

/** Registers per-controller counters (read from the engine at scrape time) on a registry. */
export function registerControllerMetrics(registry: Registry, engine: Engine, prefix = 'kubeprism_'): void {
  const perController = (kind: 'gauge' | 'counter', name: string, help: string, value: (s: ControllerStatus) => number): void =>
    registerScrapedMetric(registry, {
      kind,
      name: `${prefix}controller_${name}`,
      help,
      labelNames: ['controller'],
      read: () => engine.stats().map((s): Sample<'controller'> => [{ controller: s.name }, value(s)]),
    });
  perController('counter', 'wakeups_total', 'Reconcile rounds the controller was woken for.', (s) => s.wakeups);
  perController('counter', 'reads_total', 'Resource reads by the controller.', (s) => s.reads);
  perController('counter', 'writes_total', 'Resource writes by the controller.', (s) => s.writes);
  perController('counter', 'crashes_total', 'Times the controller failed and was restarted.', (s) => s.crashes);
  perController('gauge', 'backing_off', 'Whether the controller is waiting out a restart backoff (1) or running (0).', (s) =>
    s.backingOff ? 1 : 0,
  );
}
