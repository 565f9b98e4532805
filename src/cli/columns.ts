import type { DefinitionSpec } from '../api/client.js';
import { readColumn } from '../runtime/definition.js';
import type { Resource } from '../runtime/resource.js';
import { age, cell } from './cells.js';

/** A watch event as the table marks it. */
export type EventType = 'created' | 'updated' | 'destroyed';

/** One column of a `get` table: its header, how to read a cell, and how wide it is at least in a watch. */
export interface TableColumn {
  readonly header: string;
  readonly value: (res: Resource, now: number) => string;
  /** Width the column keeps in a watch whose first rows are narrower (or absent). */
  readonly watchWidth: number;
}

/**
 * Print columns shown only with `-o wide`, by type: what makes the narrow table too wide for a terminal
 * and is not needed at a glance (kubectl's habit: addresses and detail go to wide). A definition whose
 * column says `wide: true` is honoured too.
 */
const WIDE_ONLY: Readonly<Record<string, readonly string[]>> = {
  'Members.cluster.talos.dev': ['Addresses'],
  'DiscoveryStatuses.cluster.talos.dev': ['Last Sync', 'Resource Version'],
  'KubePrismUpstreams.kubernetes.talos.dev': ['Score', 'Last Error'],
  'KubeletConfigs.kubernetes.talos.dev': ['Kubeconfig'],
  'StaticPodConfigs.kubernetes.talos.dev': ['Kubeconfig'],
};

/** Whether a print column of `def` belongs only to the wide table. */
export function isWideColumn(def: DefinitionSpec, column: DefinitionSpec['printColumns'][number]): boolean {
  return column.wide === true || (WIDE_ONLY[def.type] ?? []).includes(column.name);
}

// The least width a watch gives a column whose values are not known yet (an empty list at the start).
const WATCH_ID_WIDTH = 24;
const WATCH_CELL_WIDTH = 10;
const WATCH_AGE_WIDTH = 6; // the longest HumanDuration below eight years: `1y364d`

function printColumn(name: string, jsonPath: string): TableColumn {
  const header = name.toUpperCase();
  return {
    header,
    value: (res, now) => cell(readColumn(res.spec, jsonPath), now),
    watchWidth: Math.max(header.length, WATCH_CELL_WIDTH),
  };
}

/**
 * The columns of a `get` table, like `talosctl get` with kubectl's AGE: NAMESPACE, TYPE (display type),
 * ID, VERSION, AGE (from metadata.created), then the type's print columns: the narrow ones, or with
 * `wide` all of them.
 */
export function tableColumns(def: DefinitionSpec | undefined, options: { wide: boolean; namespace?: string }): TableColumn[] {
  const displayType = def?.displayType;
  const namespace = options.namespace ?? def?.defaultNamespace ?? '';
  const columns: TableColumn[] = [
    { header: 'NAMESPACE', value: (res) => res.metadata.namespace, watchWidth: Math.max('NAMESPACE'.length, namespace.length) },
    {
      header: 'TYPE',
      value: (res) => displayType ?? res.metadata.type,
      watchWidth: Math.max('TYPE'.length, (displayType ?? '').length),
    },
    { header: 'ID', value: (res) => res.metadata.id, watchWidth: WATCH_ID_WIDTH },
    { header: 'VERSION', value: (res) => String(res.metadata.version), watchWidth: 'VERSION'.length },
  ];
  columns.push({ header: 'AGE', value: (res, now) => age(res.metadata.created, now), watchWidth: WATCH_AGE_WIDTH });
  // The type's own order (free text such as errors comes last, where a long cell pushes nothing).
  if (def !== undefined)
    for (const c of def.printColumns) if (options.wide || !isWideColumn(def, c)) columns.push(printColumn(c.name, c.jsonPath));
  return columns;
}

/** The `*` column of a watch: `+` created, `-` destroyed, blank updated. */
export const EVENT_COLUMN_HEADER = '*';

/** The header row (with the `*` event column in a watch). */
export function headerRow(columns: readonly TableColumn[], watch: boolean): string[] {
  const headers = columns.map((c) => c.header);
  return watch ? [EVENT_COLUMN_HEADER, ...headers] : headers;
}

/** One resource's row (marked with its event in a watch). */
export function resourceRow(columns: readonly TableColumn[], res: Resource, now: number, event?: EventType): string[] {
  const values = columns.map((c) => c.value(res, now));
  if (event === undefined) return values;
  return [event === 'created' ? '+' : event === 'destroyed' ? '-' : ' ', ...values];
}

/** The least widths of a watch table's columns (the event column first). */
export function watchWidths(columns: readonly TableColumn[]): number[] {
  return [EVENT_COLUMN_HEADER.length, ...columns.map((c) => c.watchWidth)];
}
