import { afterEach, describe, expect, it } from 'vitest';
import { KUBEPRISM_ENDPOINTS_ID, KubePrismEndpointsType, MachineConfigType, MACHINE_CONFIG_ID } from '../../src/resources/index.js';
import { ptr } from '../../src/runtime/index.js';
import { CONFIG_SOURCE_OWNER } from '../../src/agent/machine-config-source.js';
import { v1alpha1Config } from '../harness/configs.js';
import { eventuallyResource } from '../harness/eventually.js';
import { startChain, type ChainHarness } from './chain.js';

const id = ptr(KubePrismEndpointsType, KUBEPRISM_ENDPOINTS_ID);
let h: ChainHarness;
afterEach(async () => h?.close());

const endpointsOf = (check: (list: string[]) => void) =>
  eventuallyResource(h.state, id, (r) =>
    check((r?.spec.endpoints ?? []).map((e) => `${e.source}${e.member ? `(${e.member})` : ''} ${e.host} ${e.port}`)),
  );

const cp = (addresses: string[], apiServerPort = 6443) => ({
  nodeId: 'x',
  hostname: 'h',
  machineType: 'controlplane' as const,
  addresses,
  controlPlane: { apiServerPort },
});

describe('KubePrismEndpointsController', () => {
  it('lists only the cluster endpoint on a worker, port 443 when the URL has none', async () => {
    h = await startChain((c) => c.filter((x) => x.name === 'KubePrismEndpointsController'));
    await h.config.apply(v1alpha1Config({ machineType: 'worker', endpoint: 'https://api.example.com' }), 'test');
    await endpointsOf((list) => expect(list).toEqual(['clusterEndpoint api.example.com 443']));
  });

  it('adds the local API server on a control-plane node, then control-plane members by id; skips workers', async () => {
    h = await startChain((c) => c.filter((x) => x.name === 'KubePrismEndpointsController'));
    await h.config.apply(v1alpha1Config({ machineType: 'init', localAPIServerPort: 6444 }), 'test');
    await endpointsOf((list) => expect(list).toEqual(['clusterEndpoint cp.example.com 6443', 'localAPIServer localhost 6444']));

    await h.members.put('cp-b', cp(['10.0.0.2', 'fd00::2']), 'test');
    await h.members.put('cp-a', cp(['10.0.0.1'], 6444), 'test');
    await h.members.put('worker-1', { nodeId: 'w', hostname: 'w', machineType: 'worker', addresses: ['10.0.0.9'] }, 'test');
    await endpointsOf((list) =>
      expect(list).toEqual([
        'clusterEndpoint cp.example.com 6443',
        'localAPIServer localhost 6444',
        'member(cp-a) 10.0.0.1 6444',
        'member(cp-b) 10.0.0.2 6443',
        'member(cp-b) fd00::2 6443',
      ]),
    );

    await h.members.put('cp-a', cp(['10.0.0.11'], 6444), 'test');
    await endpointsOf((list) => expect(list).toContain('member(cp-a) 10.0.0.11 6444'));
    await h.members.remove('cp-b');
    await endpointsOf((list) =>
      expect(list).toEqual(['clusterEndpoint cp.example.com 6443', 'localAPIServer localhost 6444', 'member(cp-a) 10.0.0.11 6444']),
    );
  });

  it('drops duplicate host:port (first wins) and keeps IPv6 hosts unbracketed', async () => {
    h = await startChain((c) => c.filter((x) => x.name === 'KubePrismEndpointsController'));
    await h.config.apply(v1alpha1Config({ machineType: 'controlplane', endpoint: 'https://[2001:DB8::10]:6443' }), 'test');
    await h.members.put('cp-1', cp(['2001:db8::10', '10.0.0.1']), 'test');
    await h.members.put('cp-2', cp(['10.0.0.1']), 'test');
    await endpointsOf((list) =>
      expect(list).toEqual(['clusterEndpoint 2001:db8::10 6443', 'localAPIServer localhost 6443', 'member(cp-1) 10.0.0.1 6443']),
    );
  });

  it('removes its output when the machine config goes away', async () => {
    h = await startChain((c) => c.filter((x) => x.name === 'KubePrismEndpointsController'));
    await h.config.apply(v1alpha1Config(), 'test');
    await eventuallyResource(h.state, id, (r) => expect(r).toBeDefined());
    await h.state.teardownAndDestroy(ptr(MachineConfigType, MACHINE_CONFIG_ID), { owner: CONFIG_SOURCE_OWNER });
    await eventuallyResource(h.state, id, (r) => expect(r).toBeUndefined());
  });
});
