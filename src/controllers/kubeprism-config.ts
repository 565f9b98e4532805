import { KUBEPRISM_CONFIG_ID, KubePrismConfigType } from '../resources/index.js';
import { outputOf, ptr, reconcileController, type Controller } from '../runtime/index.js';
import { machineConfigInput, readMachineConfig } from './machine-config-view.js';

/** Produces KubePrismConfig from the machine config; it exists only while KubePrism is enabled. */
export function kubePrismConfigController(): Controller {
  return reconcileController({
    name: 'KubePrismConfigController',
    inputs: [machineConfigInput()],
    outputs: [outputOf(KubePrismConfigType)],
    async reconcile(ctx) {
      const view = await readMachineConfig(ctx);
      // No config, or KubePrism disabled: write nothing, and the cleanup removes the old output.
      if (!view?.kubePrism.enabled) return;
      const settings = view.kubePrism;
      await ctx.modify(ptr(KubePrismConfigType, KUBEPRISM_CONFIG_ID), (draft) => {
        draft.spec = {
          host: '127.0.0.1',
          port: settings.port,
          listenAddresses: settings.listenIPv6 ? ['127.0.0.1', '::1'] : ['127.0.0.1'],
          ...(settings.tlsServerName !== undefined ? { tlsServerName: settings.tlsServerName } : {}),
          healthCheck: { ...settings.healthCheck },
          closeConnectionsOnDown: settings.closeConnectionsOnDown,
          maxConnections: settings.maxConnections,
        };
      });
    },
  });
}
