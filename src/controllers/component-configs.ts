import path from 'node:path';
import { outputOf, ptr, reconcileController, type Controller } from '../runtime/index.js';
import { chooseServer, readKubePrism, serverChoiceInputs } from './api-server-url.js';
import { componentTypes, KUBE_COMPONENTS, type KubeComponent } from './kube-components.js';
import { machineConfigInput, readMachineConfig } from './machine-config-view.js';

/** Options of the components controller. */
export interface ComponentConfigsOptions {
  /** Directory the component files are written under (`--output-dir`). */
  readonly outputDir: string;
  /** The components to decide for (default: kubelet, kube-scheduler, kube-controller-manager, kube-proxy). */
  readonly components?: readonly KubeComponent[];
}

/**
 * Decides every component's API server with one rule (`chooseServer`): KubePrism once its listener is
 * up, then kept while it is enabled, else the component's fallback. Writes one resource per component
 * this node runs (KubeletConfigs, StaticPodConfigs, KubeProxyKubeconfigs); the others are cleaned up.
 * Stickiness comes from its own current outputs, so it survives a restart of the controller.
 */
export function componentConfigsController(options: ComponentConfigsOptions): Controller {
  const components = options.components ?? KUBE_COMPONENTS;
  return reconcileController({
    name: 'ComponentConfigsController',
    inputs: [machineConfigInput(), ...serverChoiceInputs(), ...components.flatMap((c) => c.inputs ?? [])],
    outputs: componentTypes(components).map((type) => outputOf(type)),
    async reconcile(ctx) {
      const view = await readMachineConfig(ctx);
      // No config: nothing to decide; the cleanup removes what was written for the last one.
      if (!view) return;
      const kubePrism = await readKubePrism(ctx);
      for (const component of components) {
        const fallback = await component.fallback(view, ctx);
        if (fallback === undefined) continue;
        const id = ptr(component.type, component.id);
        const current = await ctx.find(id);
        const choice = chooseServer(kubePrism, fallback, current?.spec.server);
        await ctx.modify(id, (draft) => {
          draft.spec = { ...choice, kubeconfigPath: path.join(options.outputDir, component.file) };
        });
      }
    },
  });
}
