import { describe, expect, it } from 'vitest';
import type { DefinitionSpec } from '../../src/api/client.js';
import { age, cell, humanDuration } from '../../src/cli/cells.js';
import { headerRow, resourceRow, tableColumns, watchWidths } from '../../src/cli/columns.js';
import { resourceName, TableWriter } from '../../src/cli/output.js';
import type { Resource } from '../../src/runtime/resource.js';

// How `get` prints: kubectl's AGE form, readable cells (never JSON), narrow and wide columns, and tables
// whose columns stay put in a watch.

const NOW = Date.parse('2026-01-10T12:00:00Z');
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function resource(id: string, spec: unknown, created = '2026-01-10T11:59:55.123Z'): Resource {
  return {
    metadata: {
      namespace: 'k8s',
      type: 'KubePrismUpstreams.kubernetes.talos.dev',
      id,
      version: 3,
      owner: 'KubePrismController',
      phase: 'running',
      finalizers: [],
      labels: {},
      annotations: {},
      created,
      updated: created,
    },
    spec,
  };
}

const upstreams: DefinitionSpec = {
  type: 'KubePrismUpstreams.kubernetes.talos.dev',
  displayType: 'KubePrismUpstream',
  defaultNamespace: 'k8s',
  aliases: ['kubeprismupstream', 'kpu'],
  printColumns: [
    { name: 'Healthy', jsonPath: '{.healthy}' },
    { name: 'Score', jsonPath: '{.score}' },
    { name: 'Last Error', jsonPath: '{.lastError}' },
  ],
  sensitivity: 'public',
};

describe('AGE', () => {
  it.each([
    [-5 * SECOND, '<invalid>'],
    [-1 * SECOND, '0s'], // clock skew up to two seconds reads as now
    [0, '0s'],
    [5 * SECOND, '5s'],
    [119 * SECOND, '119s'],
    [2 * MINUTE, '2m'],
    [3 * MINUTE + 20 * SECOND, '3m20s'],
    [17 * MINUTE + 5 * SECOND, '17m'],
    [179 * MINUTE, '179m'],
    [3 * HOUR, '3h'],
    [5 * HOUR + 10 * MINUTE, '5h10m'],
    [20 * HOUR + 10 * MINUTE, '20h'],
    [2 * DAY, '2d'],
    [3 * DAY + 4 * HOUR, '3d4h'],
    [12 * DAY + 4 * HOUR, '12d'],
    [800 * DAY, '2y70d'],
    [9 * 365 * DAY, '9y'],
  ])('%i ms is %s', (ms, expected) => {
    expect(humanDuration(ms)).toBe(expected);
  });

  it('reads RFC 3339 timestamps and leaves other text alone', () => {
    expect(age('2026-01-10T11:57:00Z', NOW)).toBe('3m');
    expect(age('2026-01-10T13:00:00+02:00', NOW)).toBe('60m');
    expect(age('file:/etc/kubeprism/config.yaml', NOW)).toBe('file:/etc/kubeprism/config.yaml');
  });
});

describe('table cells', () => {
  it('prints lists, objects, endpoints and timestamps readably, never as JSON', () => {
    const endpoints = [
      { host: '127.0.0.10', port: 6443, source: 'clusterEndpoint' },
      { host: 'fd00::1', port: 6443, source: 'member', member: 'cp-2' },
      { host: 'localhost', port: 6443 },
    ];
    expect(cell(endpoints, NOW)).toBe('127.0.0.10:6443 (clusterEndpoint), [fd00::1]:6443 (member cp-2), localhost:6443');
    expect(cell(['10.0.0.1', 'fd00::1'], NOW)).toBe('10.0.0.1, fd00::1');
    expect(cell({ mode: 'readyz', interval: '5s', nested: { a: 1 } }, NOW)).toBe('mode=readyz,interval=5s,nested=a=1');
    expect(cell('2026-01-10T11:59:00.500Z', NOW)).toBe('59s');
    expect(cell(false, NOW)).toBe('false');
    expect(cell(0, NOW)).toBe('0');
    expect(cell(undefined, NOW)).toBe('');
    expect(cell(null, NOW)).toBe('');
    expect(cell([], NOW)).toBe('');
    expect(cell('line one\n  line two', NOW)).toBe('line one line two');
  });
});

describe('table columns', () => {
  const res = resource('127.0.0.10:6443', { healthy: true, score: 5, lastError: 'connect ECONNREFUSED' });

  it('narrow: metadata, AGE, then the print columns that fit', () => {
    const columns = tableColumns(upstreams, { wide: false });
    expect(headerRow(columns, false)).toEqual(['NAMESPACE', 'TYPE', 'ID', 'VERSION', 'AGE', 'HEALTHY']);
    expect(resourceRow(columns, res, NOW)).toEqual(['k8s', 'KubePrismUpstream', '127.0.0.10:6443', '3', '4s', 'true']);
  });

  it('wide: every print column, in the type own order', () => {
    const columns = tableColumns(upstreams, { wide: true });
    expect(headerRow(columns, true)).toEqual(['*', 'NAMESPACE', 'TYPE', 'ID', 'VERSION', 'AGE', 'HEALTHY', 'SCORE', 'LAST ERROR']);
    expect(resourceRow(columns, res, NOW, 'destroyed')).toEqual([
      '-',
      'k8s',
      'KubePrismUpstream',
      '127.0.0.10:6443',
      '3',
      '4s',
      'true',
      '5',
      'connect ECONNREFUSED',
    ]);
  });

  it('honours a wide flag the agent sends on a column', () => {
    const def = { ...upstreams, type: 'Widgets.example.dev', printColumns: [{ name: 'Big', jsonPath: '{.big}', wide: true }] };
    expect(headerRow(tableColumns(def, { wide: false }), false)).not.toContain('BIG');
    expect(headerRow(tableColumns(def, { wide: true }), false)).toContain('BIG');
  });

  it('names a resource by its singular alias and id, which get accepts back', () => {
    expect(resourceName(upstreams, res)).toBe('kubeprismupstream/127.0.0.10:6443');
  });
});

/** Where each cell of a line starts (cells are separated by three or more spaces). */
function starts(line: string): number[] {
  return [...line.matchAll(/(?:^|\s{3,})(\S)/g)].map((m) => m.index + m[0].length - 1);
}

describe('TableWriter', () => {
  it('aligns one block to its widest cells, three spaces apart, the last column unpadded', () => {
    const out = new TableWriter().render([
      ['A', 'BB', 'C'],
      ['long value', 'x', 'last'],
    ]);
    expect(out).toBe('A            BB   C\nlong value   x    last\n');
  });

  it('in a watch, keeps the widths settled by the header and least widths, even when the list starts empty', () => {
    const columns = tableColumns(upstreams, { wide: true });
    const table = new TableWriter(watchWidths(columns));
    const header = table.render([headerRow(columns, true)]);
    const later = [
      table.render([resourceRow(columns, resource('127.0.0.10:6443', { healthy: true, score: 5 }), NOW, 'created')]),
      table.render([resourceRow(columns, resource('[fd00::abcd]:6443', { healthy: false, score: -2 }), NOW, 'created')]),
      table.render([resourceRow(columns, resource('localhost:6443', { healthy: false, score: -5, lastError: 'x' }), NOW, 'updated')]),
    ];
    const headerStarts = starts(header);
    // An updated row's event cell is blank: mark it so the cell is seen.
    for (const line of later.map((l) => l.replace(/^ /, '~')))
      expect(starts(line), line).toEqual(headerStarts.slice(0, starts(line).length));
  });

  it('in a watch, a cell longer than its column pushes only its own row, which falls back into line', () => {
    const table = new TableWriter([2, 8, 8, 2]);
    const header = table.render([['A', 'B', 'C', 'D', 'E']]);
    const long = table.render([['much-longer', 'b', 'c', 'd', 'e']]);
    const next = table.render([['a', 'b', 'c', 'd', 'e']]);
    expect(header).toBe('A    B          C          D    E\n');
    expect(long).toBe('much-longer   b   c        d    e\n'); // back in line from D on
    expect(next).toBe('a    b          c          d    e\n');
  });
});
