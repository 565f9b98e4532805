import { z } from 'zod';
import { defineResource, type SpecOf } from '../runtime/index.js';

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
  /** The node's own kubeconfig this one is adopted from (`--adopt-kubeconfig`); absent: generated. */
  source: z.string().min(1).optional(),
});

/** Spec of KubeletConfigs, StaticPodConfigs and KubeProxyKubeconfigs. */
export type ComponentConfig = z.infer<typeof componentConfigSchema>;

const columns = [
  { name: 'Server', jsonPath: '{.server}' },
  { name: 'TLS Server Name', jsonPath: '{.tlsServerName}' },
  { name: 'Kubeconfig', jsonPath: '{.kubeconfigPath}' },
  { name: 'Source', jsonPath: '{.source}' },
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

/**
 * An adopted kubeconfig of a component kubeprism does not generate one for (kube-proxy's own, a CNI
 * agent's, …): its server, and where the rewritten copy is written. Adopted kubelet, kube-scheduler and
 * kube-controller-manager kubeconfigs stay in their own types, with `source` set.
 */
export const AdoptedKubeconfigType = defineResource({
  type: 'AdoptedKubeconfigs.kubernetes.talos.dev',
  defaultNamespace: 'k8s',
  schema: componentConfigSchema,
  printColumns: columns,
});

/** Codes of an adopted kubeconfig that cannot be used (stable: match on them, never on messages). */
export const ADOPTED_KUBECONFIG_CODES = {
  /** The file does not exist. */
  missing: 'KP_ERR_KUBECONFIG_MISSING',
  /** It exists but cannot be read: permissions, a directory, too large. */
  unreadable: 'KP_ERR_KUBECONFIG_UNREADABLE',
  /** Not YAML, or not a kubeconfig (no clusters, contexts…). */
  invalid: 'KP_ERR_KUBECONFIG_INVALID',
  /** No current-context, or it names a context that is not there. */
  noContext: 'KP_ERR_KUBECONFIG_NO_CONTEXT',
  /** The current context names a cluster that is not there. */
  noCluster: 'KP_ERR_KUBECONFIG_NO_CLUSTER',
  /** The cluster's server is missing, not https, or has a path kubeprism could not keep. */
  server: 'KP_ERR_KUBECONFIG_SERVER',
} as const;

/**
 * What kubeprism knows about an adopted kubeconfig (the file, never its content): whether its last
 * read was usable, the server and TLS server name of its current context (from the last good read),
 * and why the last read was not usable. Its output stays as last written while the source is rejected.
 */
export const AdoptedKubeconfigStatusType = defineResource({
  type: 'AdoptedKubeconfigStatuses.kubernetes.talos.dev',
  defaultNamespace: 'k8s',
  schema: z.object({
    /** The node's kubeconfig (absolute path). */
    source: z.string().min(1),
    /** Where it was asked for: `--adopt-kubeconfig` or the machine config's `adoptKubeconfigs`. */
    origin: z.enum(['flag', 'config']),
    /** Where the rewritten copy is written. */
    kubeconfigPath: z.string().min(1),
    /** `ready`: the last read was usable; `rejected`: it was not (`error` says why; the last good stays). */
    state: z.enum(['ready', 'rejected']),
    /** The current context's cluster server, from the last good read: what the component falls back to. */
    server: z.string().optional(),
    /** The name the copy verifies the API server certificate against: the file's own, else the server's host. */
    tlsServerName: z.string().optional(),
    /** The current context and the cluster it uses (names, from the last good read). */
    context: z.string().optional(),
    cluster: z.string().optional(),
    /** Bumped whenever the file's content changes (a rotation, a repair): its copy is rewritten then. */
    revision: z.number().int().min(0),
    /** When the content last changed, as far as kubeprism saw (ISO time). */
    lastChangeTime: z.string().optional(),
    /** Why the last read was not usable: a stable code (ADOPTED_KUBECONFIG_CODES), the reason, when. */
    error: z.object({ code: z.string(), message: z.string(), time: z.string() }).optional(),
  }),
  printColumns: [
    { name: 'Source', jsonPath: '{.source}' },
    { name: 'State', jsonPath: '{.state}' },
    { name: 'Server', jsonPath: '{.server}' },
    { name: 'TLS Server Name', jsonPath: '{.tlsServerName}' },
    { name: 'Error', jsonPath: '{.error.message}' },
  ],
});

/** Spec of AdoptedKubeconfigStatuses. */
export type AdoptedKubeconfigStatusSpec = SpecOf<typeof AdoptedKubeconfigStatusType>;
