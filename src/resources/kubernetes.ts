import { z } from 'zod';
import { defineResource } from '../runtime/index.js';

/** Ids of the kubeconfig-consuming components. */
export const KUBELET_ID = 'kubelet';
export const KUBE_SCHEDULER_ID = 'kube-scheduler';
export const KUBE_CONTROLLER_MANAGER_ID = 'kube-controller-manager';
export const KUBE_PROXY_ID = 'kube-proxy';

/** Where a component reaches the API server, and where its kubeconfig is written. */
export const componentConfigSchema = z.object({
  server: z.url({ protocol: /^https$/ }),
  tlsServerName: z.string().min(1).optional(),
  kubeconfigPath: z.string().min(1),
});

/** Spec of KubeletConfigs, StaticPodConfigs and KubeProxyKubeconfigs. */
export type ComponentConfig = z.infer<typeof componentConfigSchema>;

const columns = [
  { name: 'Server', jsonPath: '{.server}' },
  { name: 'TLS Server Name', jsonPath: '{.tlsServerName}' },
  { name: 'Kubeconfig', jsonPath: '{.kubeconfigPath}' },
];

/** The kubelet's API server URL and kubeconfig path. */
export const KubeletConfigType = defineResource({
  type: 'KubeletConfigs.kubernetes.talos.dev',
  defaultNamespace: 'k8s',
  schema: componentConfigSchema,
  printColumns: columns,
});

/** kube-scheduler's and kube-controller-manager's API server URL and kubeconfig path (control plane only). */
export const StaticPodConfigType = defineResource({
  type: 'StaticPodConfigs.kubernetes.talos.dev',
  defaultNamespace: 'k8s',
  schema: componentConfigSchema,
  printColumns: columns,
});

/**
 * kube-proxy's API server URL, and where its `kube-system/kubeconfig-in-cluster` ConfigMap is written.
 * (Not `KubeProxyConfigs`: its abbreviation would be `kpc`, which KubePrismConfigs answers to.)
 */
export const KubeProxyKubeconfigType = defineResource({
  type: 'KubeProxyKubeconfigs.kubernetes.talos.dev',
  defaultNamespace: 'k8s',
  schema: componentConfigSchema,
  printColumns: columns,
});
