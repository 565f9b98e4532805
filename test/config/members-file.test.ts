import { describe, expect, it } from 'vitest';
import { memberSpecSchema, parseMembersFile } from '../../src/config/members-file.js';
import { fixture, invalid } from './helpers.js';

/** A members file with one entry built from `fields` (YAML flow style; JSON is valid YAML). */
const one = (fields: Record<string, unknown>): string => `members:\n  - ${JSON.stringify(fields)}\n`;
const ok = { id: 'n1', hostname: 'n1', machineType: 'worker', addresses: ['10.0.0.1'] };
/** The issues of a file that must be rejected, positions cut off. */
const issuesOf = (text: string) =>
  invalid(() => parseMembersFile(text)).issues.map((i) => ({
    path: i.path,
    message: i.message.replace(/ \(line \d+, column \d+\)$/u, ''),
  }));

describe('parseMembersFile', () => {
  it('reads YAML: nodeId defaults to the id, init is controlplane, controlPlane: {} gets 6443', () => {
    expect(parseMembersFile(fixture('members.yaml'))).toEqual([
      {
        id: 'cp-1',
        spec: {
          nodeId: 'cp-1',
          hostname: 'cp-1.example.com',
          machineType: 'controlplane',
          addresses: ['10.0.0.11', 'fd00::11'],
          controlPlane: { apiServerPort: 6443 },
        },
      },
      {
        id: 'cp-2',
        spec: {
          nodeId: '7nLZqKJxHfTkG5kR1bqG3S',
          hostname: 'cp-2.example.com',
          machineType: 'controlplane',
          addresses: ['10.0.0.12'],
          controlPlane: { apiServerPort: 5443 },
        },
      },
      { id: 'worker-1', spec: { nodeId: 'worker-1', hostname: 'worker-1', machineType: 'worker', addresses: ['2001:db8::21'] } },
    ]);
  });

  it('reads JSON', () => {
    const members = parseMembersFile(fixture('members.json'));
    expect(members.map((m) => m.id)).toEqual(['cp-1', 'worker-a']);
    expect(members[1]?.spec.addresses).toEqual(['192.168.50.21', 'fe80::1']);
    expect(members[1]?.spec).not.toHaveProperty('controlPlane');
  });

  it('accepts an empty list', () => {
    expect(parseMembersFile('members: []\n')).toEqual([]);
    expect(parseMembersFile('{"members": []}')).toEqual([]);
  });

  it('reports every problem with its path', () => {
    const text = [
      'members:',
      '  - {id: a, hostname: a, machineType: worker, addresses: [10.0.0.1]}',
      '  - {id: -bad, hostname: "", machineType: master, addresses: []}',
      '  - {id: c, hostname: c, machineType: worker, addresses: [10.0.0.3, 300.1.1.1, 5]}',
      '  - {id: a, hostname: a2, machineType: worker, addresses: [10.0.0.4]}',
      '  - {id: e, hostname: e, machineType: controlplane, addresses: ["::1"], controlPlane: {apiServerPort: 0}}',
      '  - {id: f, hostname: f, machineType: worker, addresses: [10.0.0.6], controlPlane: {}}',
      '  - 42',
      '',
    ].join('\n');
    expect(issuesOf(text)).toEqual([
      {
        path: 'members.1.id',
        message:
          'must be a valid id (letters, digits, ".", "_", ":", "-", starting with a letter or digit, at most 253 characters) (got "-bad")',
      },
      { path: 'members.1.hostname', message: 'must be a non-empty string without surrounding spaces (got "")' },
      { path: 'members.1.machineType', message: 'must be controlplane, worker or init (got "master")' },
      { path: 'members.1.addresses', message: 'must list at least one address' },
      { path: 'members.2.addresses.1', message: 'must be an IPv4 or IPv6 address (got "300.1.1.1")' },
      { path: 'members.2.addresses.2', message: 'must be an IPv4 or IPv6 address (got 5)' },
      { path: 'members.3.id', message: 'duplicate id "a" (also members.0.id)' },
      { path: 'members.4.controlPlane.apiServerPort', message: 'must be 1-65535 (got 0)' },
      { path: 'members.5.controlPlane', message: 'only control-plane members have one (machineType is worker)' },
      { path: 'members.6', message: 'must be a mapping of fields (got 42)' },
    ]);
  });

  it('requires id, hostname, machineType and addresses', () => {
    expect(issuesOf('members:\n  - {}\n')).toEqual([
      { path: 'members.0.id', message: 'required' },
      { path: 'members.0.hostname', message: 'required' },
      { path: 'members.0.machineType', message: 'required' },
      { path: 'members.0.addresses', message: 'required' },
    ]);
  });

  it('refuses ids longer than 253 characters', () => {
    expect(issuesOf(one({ ...ok, id: 'a'.repeat(254) }))[0]?.path).toBe('members.0.id');
    expect(parseMembersFile(one({ ...ok, id: 'a'.repeat(253) }))).toHaveLength(1);
  });

  it('refuses files that are not a members list', () => {
    expect(issuesOf('')).toEqual([{ path: '', message: 'empty file: expected "members: [...]"' }]);
    expect(issuesOf('nodes: []\n')).toEqual([{ path: 'members', message: 'required: a list of members (the file holds a mapping)' }]);
    expect(issuesOf('members: {}\n')).toEqual([{ path: 'members', message: 'must be a list, possibly empty (got a mapping)' }]);
    expect(issuesOf('members: []\n---\nmembers: []\n')).toEqual([{ path: '', message: 'expected one YAML document, found 2' }]);
    expect(issuesOf('{"members": [}')[0]?.message).toMatch(/^not valid YAML: /u);
  });
});

describe('memberSpecSchema', () => {
  it('normalises, and parsing its own output changes nothing', () => {
    const input = { nodeId: 'x', hostname: 'x', machineType: 'init', addresses: ['10.1.1.1'], controlPlane: {} };
    const once = memberSpecSchema.parse(input);
    expect(once).toEqual({
      nodeId: 'x',
      hostname: 'x',
      machineType: 'controlplane',
      addresses: ['10.1.1.1'],
      controlPlane: { apiServerPort: 6443 },
    });
    expect(memberSpecSchema.parse(once)).toEqual(once);
  });

  it('requires nodeId (resources always carry it)', () => {
    const result = memberSpecSchema.safeParse({ hostname: 'x', machineType: 'worker', addresses: ['10.1.1.1'] });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join('.'))).toEqual(['nodeId']);
  });
});
