import type { MachineConfigView, MemberSpec } from '../config/index.js';
import { KUBEPRISM_ENDPOINTS_ID, KubePrismEndpointsType, MemberType, type KubePrismEndpoint } from '../resources/index.js';
import { inputOf, kindOf, outputOf, ptr, reconcileController, type Controller, type Resource } from '../runtime/index.js';
import { machineConfigInput, readMachineConfig } from './machine-config-view.js';

/** The host as the balancer dials it: IPv6 without brackets, lower case, so duplicates compare equal. */
function normalizeHost(host: string): string {
  return host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

/**
 * The upstream list, in preference order: the cluster endpoint, then the local API server on a control-plane
 * node, then every control-plane member's addresses (members by id). First occurrence of a host:port wins.
 */
export function computeEndpoints(view: MachineConfigView, members: ReadonlyArray<Resource<MemberSpec>>): KubePrismEndpoint[] {
  const candidates: KubePrismEndpoint[] = [{ host: view.clusterEndpoint.host, port: view.clusterEndpoint.port, source: 'clusterEndpoint' }];
  if (view.machineType === 'controlplane') {
    candidates.push({ host: 'localhost', port: view.localAPIServerPort, source: 'localAPIServer' });
  }
  for (const member of members) {
    const { controlPlane, machineType, addresses } = member.spec;
    if (machineType !== 'controlplane' || !controlPlane || member.metadata.phase === 'tearingDown') continue;
    for (const address of addresses) {
      candidates.push({ host: address, port: controlPlane.apiServerPort, source: 'member', member: member.metadata.id });
    }
  }
  const seen = new Set<string>();
  const endpoints: KubePrismEndpoint[] = [];
  for (const candidate of candidates) {
    const host = normalizeHost(candidate.host);
    const key = `${host}|${candidate.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    endpoints.push({ ...candidate, host });
  }
  return endpoints;
}

/** Produces KubePrismEndpoints from the machine config and the discovered members. */
export function kubePrismEndpointsController(): Controller {
  return reconcileController({
    name: 'KubePrismEndpointsController',
    inputs: [machineConfigInput(), inputOf(MemberType)],
    outputs: [outputOf(KubePrismEndpointsType)],
    async reconcile(ctx) {
      const view = await readMachineConfig(ctx);
      if (!view) return;
      const members = await ctx.list(kindOf(MemberType));
      const endpoints = computeEndpoints(view, members);
      await ctx.modify(ptr(KubePrismEndpointsType, KUBEPRISM_ENDPOINTS_ID), (draft) => {
        draft.spec = { endpoints };
      });
    },
  });
}
