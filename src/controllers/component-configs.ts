import path from 'node:path';
import type { Adoption } from '../config/index.js';
import { AdoptedKubeconfigStatusType, AdoptedKubeconfigType, type AdoptedKubeconfigStatusSpec } from '../resources/index.js';
import { inputOf, kindOf, outputOf, ptr, reconcileController, type Controller, type ControllerContext } from '../runtime/index.js';
import { chooseServer, readKubePrism, serverChoiceInputs, type KubePrismState } from './api-server-url.js';
import { componentTypes, KUBE_COMPONENTS, type KubeComponent } from './kube-components.js';
import { machineConfigInput, readMachineConfig } from './machine-config-view.js';

/** Options of the components controller. */
export interface ComponentConfigsOptions {
  /** Directory the component files are written under (`--output-dir`). */
  readonly outputDir: string;
  /** The components to decide for (default: kubelet, kube-scheduler, kube-controller-manager, kube-proxy). */
  readonly components?: readonly KubeComponent[];
  /** Kubeconfigs adopted on the command line (the machine config's are in its view). */
  readonly adoptions?: readonly Adoption[];
}

/** An adopted kubeconfig: its status, by component name. */
type Adoptions = ReadonlyMap<string, AdoptedKubeconfigStatusSpec>;

/**
 * Decides every component's API server with one rule (`chooseServer`): KubePrism once its listener is
 * up, then kept while it is enabled, else the component's fallback. Writes one resource per component
 * this node runs (KubeletConfigs, StaticPodConfigs, KubeProxyKubeconfigs); the others are cleaned up.
 * Stickiness comes from its own current outputs, so it survives a restart of the controller.
 *
 * Adopted kubeconfigs follow the same rule with the file's own server as the fallback: an adopted
 * kubelet, kube-scheduler or kube-controller-manager takes the place of the generated one (same
 * resource, `source` set); any other name gets an AdoptedKubeconfig. An adoption whose file has never
 * been readable leaves the component's resource as it was (its file too).
 */
export function componentConfigsController(options: ComponentConfigsOptions): Controller {
  const components = options.components ?? KUBE_COMPONENTS;
  return reconcileController({
    name: 'ComponentConfigsController',
    inputs: [
      machineConfigInput(),
      ...serverChoiceInputs(),
      inputOf(AdoptedKubeconfigStatusType),
      ...components.flatMap((c) => c.inputs ?? []),
    ],
    outputs: [...componentTypes(components), AdoptedKubeconfigType].map((type) => outputOf(type)),
    async reconcile(ctx) {
      const view = await readMachineConfig(ctx);
      // No config: nothing to decide; the cleanup removes what was written for the last one.
      if (!view) return;
      const kubePrism = await readKubePrism(ctx);
      // Adopted by name from the inputs themselves, so a kubeconfig whose status is not there yet (just
      // started) is never generated in its place for a moment.
      const adopted = new Set([...(options.adoptions ?? []), ...(view.adoptKubeconfigs ?? [])].map((a) => a.name));
      const adoptions: Adoptions = new Map(
        (await ctx.list(kindOf(AdoptedKubeconfigStatusType)))
          .filter((r) => r.metadata.phase !== 'tearingDown' && adopted.has(r.metadata.id))
          .map((r) => [r.metadata.id, r.spec]),
      );
      const replaced = new Set<string>();
      for (const component of components) {
        if (component.format === 'kubeconfig' && adopted.has(component.id)) {
          replaced.add(component.id);
          await decideAdopted(ctx, kubePrism, component, adoptions.get(component.id));
          continue;
        }
        const fallback = await component.fallback(view, ctx);
        if (fallback === undefined) continue;
        const id = ptr(component.type, component.id);
        const current = await ctx.find(id);
        const choice = chooseServer(kubePrism, fallback, current?.spec.server);
        await ctx.modify(id, (draft) => {
          draft.spec = { ...choice, kubeconfigPath: path.join(options.outputDir, component.file) };
        });
      }
      for (const [name, adoption] of adoptions) {
        if (replaced.has(name)) continue;
        await decideAdopted(ctx, kubePrism, { id: name, type: AdoptedKubeconfigType }, adoption);
      }
    },
  });
}

/** The server of an adopted kubeconfig: the same rule, its own server as the fallback, its own TLS server name. */
async function decideAdopted(
  ctx: ControllerContext,
  kubePrism: KubePrismState,
  component: Pick<KubeComponent, 'id' | 'type'>,
  adoption: AdoptedKubeconfigStatusSpec | undefined,
): Promise<void> {
  const id = ptr(component.type, component.id);
  const current = await ctx.find(id);
  if (adoption?.server === undefined) {
    // Never readable yet: keep what the component has (marked as written, so the cleanup leaves it).
    if (current) await ctx.modify(id, () => undefined);
    return;
  }
  const { server } = chooseServer(kubePrism, adoption.server, current?.spec.server);
  await ctx.modify(id, (draft) => {
    draft.spec = {
      server,
      // The name the original server's certificate was verified against, whichever server is used.
      ...(adoption.tlsServerName !== undefined ? { tlsServerName: adoption.tlsServerName } : {}),
      kubeconfigPath: adoption.kubeconfigPath,
      source: adoption.source,
    };
  });
}
