import type { z } from 'zod';
import type { discoverySwitchSchema, KubernetesDiscoverySettings } from './schemas.js';
import type { KubePrismBlock } from './kubeprism-settings.js';

/**
 * The Kubernetes discovery source's settings, or undefined when it is off. The switch is Talos's:
 * `cluster.discovery.enabled: true` and `cluster.discovery.registries.kubernetes.disabled` not true. The
 * settings block (next to the KubePrism port) was read and checked with the KubePrism settings, even
 * while the switch is off, so a typo shows up before the day it is turned on.
 */
export function resolveKubernetesDiscovery(
  discovery: z.output<typeof discoverySwitchSchema> | undefined,
  settings: KubePrismBlock['kubernetesDiscovery'],
): KubernetesDiscoverySettings | undefined {
  const enabled = discovery?.enabled === true && discovery.registries?.kubernetes?.disabled !== true;
  return enabled ? { ...settings } : undefined;
}
