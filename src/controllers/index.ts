import type { Controller } from '../runtime/index.js';
import { componentConfigsController } from './component-configs.js';
import { kubeconfigFilesController, type KubeconfigFilesOptions } from './kubeconfig-files.js';
import { kubePrismConfigController } from './kubeprism-config.js';
import { kubePrismEndpointsController } from './kubeprism-endpoints.js';

export * from './api-server-url.js';
export * from './component-configs.js';
export * from './kube-components.js';
export * from './kubeconfig-files.js';
export * from './kubeprism.js';
export * from './kubeprism-config.js';
export * from './kubeprism-endpoints.js';
export * from './kubernetes-members.js';
export * from './machine-config-view.js';

/** The controllers deriving everything but the live proxy from the machine config and members. */
export function configChainControllers(options: KubeconfigFilesOptions): Controller[] {
  return [
    kubePrismConfigController(),
    kubePrismEndpointsController(),
    componentConfigsController({ outputDir: options.outputDir, components: options.components }),
    kubeconfigFilesController(options),
  ];
}
