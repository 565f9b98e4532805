import type { z } from 'zod';
import { joinPath, type RawIssue } from './issues.js';
import type { KubePrismSource } from './kubeprism-settings.js';
import { isPlainObject, readWith } from './read.js';
import {
  DEFAULT_REMOVAL_DELAY_MS,
  kubernetesDiscoveryInputSchema,
  type discoverySwitchSchema,
  type KubernetesDiscoverySettings,
} from './schemas.js';

/** The key of kubeprism's discovery settings, next to the KubePrism port in either config form. */
export const KUBERNETES_DISCOVERY_KEY = 'kubernetesDiscovery';

/**
 * The Kubernetes discovery source's settings, or undefined when it is off. The switch is Talos's:
 * `cluster.discovery.enabled: true` and `cluster.discovery.registries.kubernetes.disabled` not true. The
 * settings block is validated wherever it is written, even while the switch is off, so a typo shows up
 * before the day it is turned on. Pushes issues and returns undefined when the block is invalid.
 */
export function resolveKubernetesDiscovery(
  discovery: z.output<typeof discoverySwitchSchema> | undefined,
  kubePrism: KubePrismSource | undefined,
  issues: RawIssue[],
): KubernetesDiscoverySettings | undefined {
  const raw = kubePrism !== undefined && isPlainObject(kubePrism.value) ? kubePrism.value[KUBERNETES_DISCOVERY_KEY] : undefined;
  const where = kubePrism && { document: kubePrism.document, base: joinPath(kubePrism.base, KUBERNETES_DISCOVERY_KEY) };
  const input = raw === undefined ? {} : readWith(kubernetesDiscoveryInputSchema, raw, issues, where);
  const enabled = discovery?.enabled === true && discovery.registries?.kubernetes?.disabled !== true;
  if (!enabled || input === undefined) return undefined;
  return {
    ...(input.kubeconfig !== undefined ? { kubeconfig: input.kubeconfig } : {}),
    removalDelayMs: input.removalDelay ?? DEFAULT_REMOVAL_DELAY_MS,
  };
}
