import { Counter, Gauge, type Registry } from 'prom-client';
import type { Engine } from '../runtime/index.js';

/** Registers per-controller counters (read from the engine at scrape time) on a registry. */
export function registerControllerMetrics(registry: Registry, engine: Engine, prefix = 'kubeprism_'): void {
  const counter = (name: string, help: string, field: 'wakeups' | 'reads' | 'writes' | 'crashes'): void => {
    new Counter({
      name: `${prefix}controller_${name}_total`,
      help,
      labelNames: ['controller'] as const,
      registers: [registry],
      collect(this: Counter<'controller'>) {
        this.reset();
        for (const s of engine.stats()) this.inc({ controller: s.name }, s[field]);
      },
    });
  };
  counter('wakeups', 'Reconcile rounds the controller was woken for.', 'wakeups');
  counter('reads', 'Resource reads by the controller.', 'reads');
  counter('writes', 'Resource writes by the controller.', 'writes');
  counter('crashes', 'Times the controller failed and was restarted.', 'crashes');
  new Gauge({
    name: `${prefix}controller_backing_off`,
    help: 'Whether the controller is waiting out a restart backoff (1) or running (0).',
    labelNames: ['controller'] as const,
    registers: [registry],
    collect(this: Gauge<'controller'>) {
      this.reset();
      for (const s of engine.stats()) this.set({ controller: s.name }, s.backingOff ? 1 : 0);
    },
  });
}
