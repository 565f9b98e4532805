import type { MachineConfigView } from '../config/index.js';
import {
  KUBE_CONTROLLER_MANAGER_ID,
  KUBE_PROXY_ID,
  KUBE_SCHEDULER_ID,
  KUBELET_ID,
  KubeletConfigType,
  KubeProxyKubeconfigType,
  StaticPodConfigType,
  type ComponentConfig,
} from '../resources/index.js';
import type { ControllerInput, ControllerReader, ResourceDefinition } from '../runtime/index.js';
import { httpsURL } from './api-server-url.js';

/** How a component's file is written: a kubeconfig naming credential files, or kube-proxy's ConfigMap. */
export type KubeconfigFormat = 'kubeconfig' | 'in-cluster-configmap';

/**
 * A component that talks to the API server: the components controller chooses its server (one rule for
 * all) and the file writer renders its resource. Adding one is adding an entry to a list.
 */
export interface KubeComponent {
  /** The resource id, and the name the writer uses for its credentials (`kubelet`, `kube-proxy`, …). */
  readonly id: string;
  /** The resource type its config is written as (the id is unique within it). */
  readonly type: ResourceDefinition<ComponentConfig>;
  /** Its file, relative to the output directory. */
  readonly file: string;
  readonly format: KubeconfigFormat;
  /**
   * The server it uses while KubePrism is disabled or not yet listening; undefined when this node does
   * not run it. May read the component's own `inputs` (e.g. a resource holding an adopted file's server).
   */
  fallback(view: MachineConfigView, reader: ControllerReader): string | undefined | Promise<string | undefined>;
  /** Inputs `fallback` reads beyond the machine config (the components controller declares them). */
  readonly inputs?: readonly ControllerInput[];
}

/** The cluster endpoint as a canonical URL (what workers and kube-proxy use without KubePrism). */
export function clusterEndpointURL(view: MachineConfigView): string {
  return httpsURL(view.clusterEndpoint.host, view.clusterEndpoint.port);
}

/** The node's own API server (what control-plane components use without KubePrism). */
export function localAPIServerURL(view: MachineConfigView): string {
  return httpsURL('localhost', view.localAPIServerPort);
}

/** The local API server on control-plane nodes; nothing on workers (they run no control-plane pods). */
function controlPlaneOnly(view: MachineConfigView): string | undefined {
  return view.machineType === 'controlplane' ? localAPIServerURL(view) : undefined;
}

/** kubelet, kube-scheduler, kube-controller-manager and kube-proxy, with the files and fallbacks Talos gives them. */
export const KUBE_COMPONENTS: readonly KubeComponent[] = Object.freeze([
  {
    id: KUBELET_ID,
    type: KubeletConfigType,
    file: 'kubelet/kubeconfig',
    format: 'kubeconfig',
    fallback: (view) => (view.machineType === 'controlplane' ? localAPIServerURL(view) : clusterEndpointURL(view)),
  },
  { id: KUBE_SCHEDULER_ID, type: StaticPodConfigType, file: 'kube-scheduler/kubeconfig', format: 'kubeconfig', fallback: controlPlaneOnly },
  {
    id: KUBE_CONTROLLER_MANAGER_ID,
    type: StaticPodConfigType,
    file: 'kube-controller-manager/kubeconfig',
    format: 'kubeconfig',
    fallback: controlPlaneOnly,
  },
  {
    id: KUBE_PROXY_ID,
    type: KubeProxyKubeconfigType,
    file: 'kube-proxy/kubeconfig-in-cluster.yaml',
    format: 'in-cluster-configmap',
    fallback: clusterEndpointURL,
  },
]);

/** The distinct resource types of a component list, in order. */
export function componentTypes(components: readonly KubeComponent[]): ResourceDefinition<ComponentConfig>[] {
  return [...new Set(components.map((c) => c.type))];
}
