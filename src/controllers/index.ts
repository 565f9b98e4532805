import type { Controller } from '../runtime/index.js';
import { adoptedKubeconfigStatusController, type AdoptedKubeconfigStatusOptions } from './adopted-kubeconfig-statuses.js';
import { componentConfigsController } from './component-configs.js';
import { kubeconfigFilesController, type KubeconfigFilesOptions } from './kubeconfig-files.js';
import { kubePrismConfigController } from './kubeprism-config.js';
import { kubePrismEndpointsController } from './kubeprism-endpoints.js';

export * from './adopted-kubeconfig.js';
export * from './adopted-kubeconfig-statuses.js';
export * from './api-server-url.js';
export * from './component-configs.js';
export * from './credential-profiles.js';
export * from './kube-components.js';
export * from './kubeconfig-files.js';
export * from './kubeprism.js';
export * from './kubeprism-config.js';
export * from './kubeprism-endpoints.js';
export * from './kubernetes-members.js';
export * from './machine-config-view.js';

/** Options of the config chain: the file writer's, and the kubeconfigs adopted on the command line. */
export interface ConfigChainOptions extends KubeconfigFilesOptions {
  readonly adoptions?: AdoptedKubeconfigStatusOptions['adoptions'];
  readonly watch?: AdoptedKubeconfigStatusOptions['watch'];
}

/** The controllers deriving everything but the live proxy from the machine config and members. */
export function configChainControllers(options: ConfigChainOptions): Controller[] {
  return [
    kubePrismConfigController(),
    kubePrismEndpointsController(),
    adoptedKubeconfigStatusController({
      outputDir: options.outputDir,
      ...(options.adoptions ? { adoptions: options.adoptions } : {}),
      ...(options.watch ? { watch: options.watch } : {}),
    }),
    componentConfigsController({
      outputDir: options.outputDir,
      ...(options.components ? { components: options.components } : {}),
      ...(options.adoptions ? { adoptions: options.adoptions } : {}),
    }),
    kubeconfigFilesController(options),
  ];
}
