import path from 'node:path';
import { KUBELET_ID, KubeletConfigType } from '../resources/index.js';
import { outputOf, ptr, reconcileController, type Controller } from '../runtime/index.js';
import { chooseServer, clusterEndpointURL, localAPIServerURL, serverChoiceInputs } from './api-server-url.js';
import { machineConfigInput, readMachineConfig } from './machine-config-view.js';

/** Options shared by the component-config controllers. */
export interface ComponentConfigOptions {
  /** Directory the kubeconfig files are written under (`--output-dir`). */
  readonly outputDir: string;
}

/** Produces KubeletConfig: KubePrism when enabled, else the cluster endpoint (worker) or the local API server (control plane). */
export function kubeletConfigController(options: ComponentConfigOptions): Controller {
  const id = ptr(KubeletConfigType, KUBELET_ID);
  return reconcileController({
    name: 'KubeletConfigController',
    inputs: [machineConfigInput(), ...serverChoiceInputs()],
    outputs: [outputOf(KubeletConfigType)],
    async reconcile(ctx) {
      const view = await readMachineConfig(ctx);
      if (!view) return;
      const fallback = view.machineType === 'controlplane' ? localAPIServerURL(view) : clusterEndpointURL(view);
      const current = await ctx.find(id);
      const choice = await chooseServer(ctx, fallback, current?.spec.server);
      await ctx.modify(id, (draft) => {
        draft.spec = { ...choice, kubeconfigPath: path.join(options.outputDir, 'kubelet', 'kubeconfig') };
      });
    },
  });
}
