import type { ResourceDefinition, State } from '../runtime/index.js';
import { MemberType } from './cluster.js';
import { MachineConfigStatusType, MachineConfigType } from './config.js';
import { DiscoveryStatusType } from './discovery.js';
import { KubePrismConfigType, KubePrismEndpointsType, KubePrismStatusType, KubePrismUpstreamType } from './kubeprism.js';
import {
  AdoptedKubeconfigStatusType,
  AdoptedKubeconfigType,
  KubeletConfigType,
  KubeProxyKubeconfigType,
  StaticPodConfigType,
} from './kubernetes.js';

export * from './cluster.js';
export * from './config.js';
export * from './discovery.js';
export * from './kubeprism.js';
export * from './kubernetes.js';

/** Every kubeprism resource type. */
export const KUBEPRISM_TYPES: readonly ResourceDefinition[] = [
  MachineConfigType,
  MachineConfigStatusType,
  MemberType,
  DiscoveryStatusType,
  KubePrismConfigType,
  KubePrismEndpointsType,
  KubePrismStatusType,
  KubePrismUpstreamType,
  KubeletConfigType,
  StaticPodConfigType,
  KubeProxyKubeconfigType,
  AdoptedKubeconfigType,
  AdoptedKubeconfigStatusType,
] as ResourceDefinition[];

const NAMESPACES: Record<string, string> = {
  config: 'Machine configuration and its status',
  cluster: 'Cluster discovery results',
  k8s: 'Kubernetes-facing resources: KubePrism and component configs',
};

/** Registers kubeprism's namespaces and types in a state. */
export async function registerKubeprismTypes(state: State): Promise<void> {
  for (const [name, description] of Object.entries(NAMESPACES)) await state.registerNamespace(name, description);
  for (const def of KUBEPRISM_TYPES) await state.registerType(def);
}
