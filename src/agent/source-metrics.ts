import type { Registry } from 'prom-client';
import {
  DiscoveryStatusType,
  discoveryPhaseSchema,
  MACHINE_CONFIG_ID,
  MachineConfigStatusType,
  type DiscoveryStatusSpec,
  type MachineConfigStatusSpec,
} from '../resources/index.js';
import { kindOf, ptr, type State } from '../runtime/index.js';
import { registerScrapedMetric, type Sample } from '../util/scraped-metric.js';

/** Seconds since the epoch of an ISO time, undefined when absent or unreadable. */
function epochSeconds(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

/**
 * Registers the input sources' health on a registry, read from their status resources at scrape time:
 * every discovery source (Kubernetes, the members file) and the machine config source. What an operator
 * alerts on: a source not in sync, a stale last sync, a rejected config, a last good config in use.
 */
export function registerSourceMetrics(registry: Registry, state: State, prefix = 'kubeprism_'): void {
  // A handful of in-memory resources: each collector reads what it needs.
  const discoveryStatuses = async (): Promise<Array<{ source: string; spec: DiscoveryStatusSpec }>> =>
    (await state.list(kindOf(DiscoveryStatusType))).map((r) => ({ source: r.metadata.id, spec: r.spec }));
  const configStatus = async (): Promise<MachineConfigStatusSpec | undefined> =>
    (await state.find(ptr(MachineConfigStatusType, MACHINE_CONFIG_ID)))?.spec;
  const perSource = (kind: 'gauge' | 'counter', name: string, help: string, value: (s: DiscoveryStatusSpec) => number | undefined): void =>
    registerScrapedMetric(registry, {
      kind,
      name: `${prefix}discovery_${name}`,
      help,
      labelNames: ['source'],
      read: async () =>
        (await discoveryStatuses()).flatMap(({ source, spec }): Array<Sample<'source'>> => {
          const v = value(spec);
          return v === undefined ? [] : [[{ source }, v]];
        }),
    });
  perSource('gauge', 'enabled', 'Whether the discovery source is switched on (1) or not (0).', (s) => (s.enabled ? 1 : 0));
  perSource('gauge', 'members', 'Members the source knows now.', (s) => s.members);
  perSource('gauge', 'leaving_members', 'Members kept while absent from the source, until the removal delay has passed.', (s) => s.leaving);
  perSource('counter', 'relists_total', 'Full re-lists (Kubernetes) or re-reads of changed content (members file).', (s) => s.relists);
  perSource('gauge', 'last_sync_timestamp_seconds', 'When the source last synced (list, watch event, bookmark or applied file).', (s) =>
    epochSeconds(s.lastSyncTime),
  );
  perSource('gauge', 'last_error_timestamp_seconds', 'When the source last failed.', (s) => epochSeconds(s.lastError?.time));
  registerScrapedMetric(registry, {
    kind: 'gauge',
    name: `${prefix}discovery_phase`,
    help: 'Where each discovery source is in its cycle: 1 for its current phase, 0 for the others.',
    labelNames: ['source', 'phase'],
    read: async () =>
      (await discoveryStatuses()).flatMap(({ source, spec }) =>
        discoveryPhaseSchema.options.map((phase): Sample<'source' | 'phase'> => [{ source, phase }, spec.phase === phase ? 1 : 0]),
      ),
  });

  const configGauge = (name: string, help: string, value: (s: MachineConfigStatusSpec) => number | undefined): void =>
    registerScrapedMetric(registry, {
      kind: 'gauge',
      name: `${prefix}machine_config_${name}`,
      help,
      read: async () => {
        const config = await configStatus();
        const v = config === undefined ? undefined : value(config);
        return v === undefined ? [] : [[{}, v]];
      },
    });
  configGauge('applied_version', 'Version of the MachineConfig resource in force (0: none yet).', (s) => s.appliedVersion);
  configGauge(
    'using_last_good',
    'Whether the agent runs on the persisted last good config because its source could not be used (1) or not (0).',
    (s) => (s.usingLastGood ? 1 : 0),
  );
  configGauge('persist_failing', 'Whether saving the last good config to the state directory fails (1) or not (0).', (s) =>
    s.persistError !== undefined ? 1 : 0,
  );
  // A gauge without labels always has a sample: 0 stands for "never".
  configGauge('last_applied_timestamp_seconds', 'When a config was last applied (0: never).', (s) => epochSeconds(s.appliedAt));
  configGauge('last_rejection_timestamp_seconds', 'When a config was last rejected or could not be read (0: never).', (s) =>
    epochSeconds(s.lastError?.at),
  );
}
