import type { Controller } from '../runtime/index.js';
import { kubeconfigFilesController, type KubeconfigFilesOptions } from './kubeconfig-files.js';
import { kubeletConfigController } from './kubelet-config.js';
import { kubePrismConfigController } from './kubeprism-config.js';
import { kubePrismEndpointsController } from './kubeprism-endpoints.js';
import { staticPodConfigsController } from './static-pod-configs.js';

export * from './api-server-url.js';
export * from './kubeconfig-files.js';
export * from './kubelet-config.js';
export * from './kubeprism.js';
export * from './kubeprism-config.js';
export * from './kubeprism-endpoints.js';
export * from './kubernetes-members.js';
export * from './machine-config-view.js';
export * from './static-pod-configs.js';

/** The controllers deriving everything but the live proxy from the machine config and members. */
export function configChainControllers(options: KubeconfigFilesOptions): Controller[] {
  return [
    kubePrismConfigController(),
    kubePrismEndpointsController(),
    kubeletConfigController(options),
    staticPodConfigsController(options),
    kubeconfigFilesController(options),
  ];
}
