import { describe, expect, it } from 'vitest';
import {
  DISCOVERY_CODES,
  DiscoveryError,
  endpointSliceSchema,
  listPath,
  memberIdFor,
  membersFromSlices,
  parseWatchLine,
  watchPath,
  type EndpointSlice,
} from '../../src/discovery/index.js';

const slice = (name: string, over: Partial<EndpointSlice> = {}): EndpointSlice =>
  endpointSliceSchema.parse({
    metadata: { name, labels: { 'kubernetes.io/service-name': 'kubernetes' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.0.0.11'], conditions: { ready: true } }],
    ports: [{ name: 'https', port: 6443, protocol: 'TCP' }],
    ...over,
  });
const ports = (list: Array<{ name?: string; port: number }>): EndpointSlice['ports'] => list;
const summary = (slices: EndpointSlice[]) =>
  Object.fromEntries(
    [...membersFromSlices(slices).members].map(([id, m]) => [id, `${m.addresses.join(',')}:${m.controlPlane?.apiServerPort}`]),
  );

describe('EndpointSlices to members', () => {
  it('makes one control-plane member per ready address, id k8s-<address>', () => {
    const s = slice('kubernetes', {
      endpoints: [
        { addresses: ['10.0.0.11'], conditions: { ready: true } },
        { addresses: ['10.0.0.12'], conditions: { ready: null } }, // unset means ready
        { addresses: ['10.0.0.13'], conditions: null },
        { addresses: ['10.0.0.14'], conditions: { ready: false } },
        { addresses: ['10.0.0.15'], nodeName: 'cp-5' },
      ],
    });
    expect(summary([s])).toEqual({
      'k8s-10.0.0.11': '10.0.0.11:6443',
      'k8s-10.0.0.12': '10.0.0.12:6443',
      'k8s-10.0.0.13': '10.0.0.13:6443',
      'k8s-10.0.0.15': '10.0.0.15:6443',
    });
    expect(membersFromSlices([s]).members.get('k8s-10.0.0.15')).toEqual({
      nodeId: 'cp-5',
      hostname: 'cp-5',
      machineType: 'controlplane',
      addresses: ['10.0.0.15'],
      controlPlane: { apiServerPort: 6443 },
    });
  });

  it('takes the port named https, else the only port; skips slices with neither, FQDN slices and non-IP addresses', () => {
    const only = slice('a', { ports: ports([{ name: 'other', port: 8443 }]) });
    const named = slice('b', {
      endpoints: [{ addresses: ['10.0.0.12'] }],
      ports: ports([
        { name: 'metrics', port: 9000 },
        { name: 'https', port: 6444 },
      ]),
    });
    const ambiguous = slice('c', {
      endpoints: [{ addresses: ['10.0.0.13'] }],
      ports: ports([
        { name: 'x', port: 1 },
        { name: 'y', port: 2 },
      ]),
    });
    const fqdn = slice('d', { addressType: 'FQDN', endpoints: [{ addresses: ['api.example'] }] });
    const wrongFamily = slice('e', { endpoints: [{ addresses: ['fd00::1', 'not-an-ip'] }] });
    const { members, skipped } = membersFromSlices([only, named, ambiguous, fqdn, wrongFamily]);
    expect(Object.fromEntries([...members].map(([id, m]) => [id, m.controlPlane?.apiServerPort]))).toEqual({
      'k8s-10.0.0.11': 8443,
      'k8s-10.0.0.12': 6444,
    });
    expect(skipped).toEqual([
      'c: no port named https and not exactly one port',
      'd: address type FQDN (members need IP addresses)',
      'e: "fd00::1" is not an IPv4 address',
      'e: "not-an-ip" is not an IPv4 address',
    ]);
  });

  it('keeps the first slice (by name) listing an address, and handles IPv6 (colons are valid in ids)', () => {
    const v6 = slice('kubernetes-v6', { addressType: 'IPv6', endpoints: [{ addresses: ['FD00::11'] }] });
    const dup = slice('kubernetes-z', { ports: ports([{ name: 'https', port: 7000 }]) });
    expect(summary([dup, v6, slice('kubernetes')])).toEqual({ 'k8s-10.0.0.11': '10.0.0.11:6443', 'k8s-fd00::11': 'fd00::11:6443' });
    expect(memberIdFor('FD00::11')).toBe('k8s-fd00::11');
  });
});

describe('the watch protocol', () => {
  it('asks for the kubernetes slices, a watch from a resourceVersion with bookmarks and a timeout', () => {
    expect(listPath()).toBe(
      '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dkubernetes',
    );
    const query = new URL(`https://x${watchPath('123', 300)}`).searchParams;
    expect(Object.fromEntries(query)).toEqual({
      labelSelector: 'kubernetes.io/service-name=kubernetes',
      watch: '1',
      resourceVersion: '123',
      allowWatchBookmarks: 'true',
      timeoutSeconds: '300',
    });
  });

  it('reads events; ERROR 410 is gone, other ERRORs and garbage are distinct failures', () => {
    const object = { metadata: { name: 'kubernetes', resourceVersion: '7' }, addressType: 'IPv4', endpoints: null, ports: null };
    expect(parseWatchLine(JSON.stringify({ type: 'ADDED', object }))).toMatchObject({
      type: 'ADDED',
      resourceVersion: '7',
      slice: { metadata: { name: 'kubernetes' } },
    });
    expect(parseWatchLine(JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } }))).toEqual({
      type: 'BOOKMARK',
      resourceVersion: '9',
    });
    const failure = (line: string): string => {
      try {
        parseWatchLine(line);
      } catch (err) {
        expect(err).toBeInstanceOf(DiscoveryError);
        return (err as DiscoveryError).code;
      }
      throw new Error('no failure');
    };
    expect(failure(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } }))).toBe(DISCOVERY_CODES.gone);
    expect(failure(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 500 } }))).toBe(DISCOVERY_CODES.watchError);
    for (const garbage of [
      'nope',
      '[]',
      '{"type":"ADDED"}',
      '{"type":"WEIRD","object":{}}',
      JSON.stringify({ type: 'MODIFIED', object: { metadata: {} } }),
      'null',
    ]) {
      expect([garbage, failure(garbage)]).toEqual([garbage, DISCOVERY_CODES.badResponse]);
    }
  });
});
