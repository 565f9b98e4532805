import { KUBEPRISM_CONFIG_ID, KubePrismConfigType, MachineConfigType } from '../resources/index.js';
import { transformController, type Controller } from '../runtime/index.js';

/** Produces KubePrismConfig from the machine config's view; it exists only while KubePrism is enabled. */
export function kubePrismConfigController(): Controller {
  return transformController({
    name: 'KubePrismConfigController',
    input: MachineConfigType,
    output: KubePrismConfigType,
    outputId: () => KUBEPRISM_CONFIG_ID,
    map(_ctx, machineConfig) {
      // KubePrism disabled: no output, and the cleanup removes the old one.
      const { enabled, port, listenIPv6, tlsServerName, ...balancer } = machineConfig.spec.view.kubePrism;
      if (!enabled) return undefined;
      return {
        host: '127.0.0.1',
        port,
        listenAddresses: listenIPv6 ? ['127.0.0.1', '::1'] : ['127.0.0.1'],
        ...(tlsServerName !== undefined ? { tlsServerName } : {}),
        ...balancer,
      };
    },
  });
}
