import path from 'node:path';
import { KUBE_CONTROLLER_MANAGER_ID, KUBE_SCHEDULER_ID, StaticPodConfigType } from '../resources/index.js';
import { outputOf, ptr, reconcileController, type Controller } from '../runtime/index.js';
import { chooseServer, localAPIServerURL, serverChoiceInputs } from './api-server-url.js';
import type { ComponentConfigOptions } from './kubelet-config.js';
import { machineConfigInput, readMachineConfig } from './machine-config-view.js';

/** The static-pod components that get a kubeconfig, on control-plane nodes only. */
export const STATIC_POD_COMPONENTS = [KUBE_SCHEDULER_ID, KUBE_CONTROLLER_MANAGER_ID] as const;

/** Produces StaticPodConfigs for kube-scheduler and kube-controller-manager: KubePrism when enabled, else the local API server. */
export function staticPodConfigsController(options: ComponentConfigOptions): Controller {
  return reconcileController({
    name: 'StaticPodConfigController',
    inputs: [machineConfigInput(), ...serverChoiceInputs()],
    outputs: [outputOf(StaticPodConfigType)],
    async reconcile(ctx) {
      const view = await readMachineConfig(ctx);
      // Workers run no static control-plane pods: writing nothing lets the cleanup remove old outputs.
      if (view?.machineType !== 'controlplane') return;
      for (const component of STATIC_POD_COMPONENTS) {
        const id = ptr(StaticPodConfigType, component);
        const current = await ctx.find(id);
        const choice = await chooseServer(ctx, localAPIServerURL(view), current?.spec.server);
        await ctx.modify(id, (draft) => {
          draft.spec = { ...choice, kubeconfigPath: path.join(options.outputDir, component, 'kubeconfig') };
        });
      }
    },
  });
}
