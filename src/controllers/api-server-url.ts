import type { MachineConfigView } from '../config/index.js';
import {
  KUBEPRISM_CONFIG_ID,
  KUBEPRISM_STATUS_ID,
  KubePrismConfigType,
  KubePrismStatusType,
  type SpecOfKubePrismConfig,
} from '../resources/index.js';
import { inputOf, ptr, type ControllerInput, type ControllerReader } from '../runtime/index.js';
import { formatAddress } from '../util/address.js';

/** Where a component should send its API requests. */
export interface ServerChoice {
  server: string;
  tlsServerName?: string;
}

/** `https://host:port`, IPv6 bracketed. */
export function httpsURL(host: string, port: number): string {
  return `https://${formatAddress(host, port)}`;
}

/** The cluster endpoint as a canonical URL (what workers and kube-proxy use without KubePrism). */
export function clusterEndpointURL(view: MachineConfigView): string {
  return httpsURL(view.clusterEndpoint.host, view.clusterEndpoint.port);
}

/** The node's own API server (what control-plane components use without KubePrism). */
export function localAPIServerURL(view: MachineConfigView): string {
  return httpsURL('localhost', view.localAPIServerPort);
}

/** The inputs a server choice (and {@link readKubePrism}) depends on. */
export function serverChoiceInputs(): ControllerInput[] {
  return [inputOf(KubePrismConfigType, { id: KUBEPRISM_CONFIG_ID }), inputOf(KubePrismStatusType, { id: KUBEPRISM_STATUS_ID })];
}

/** The address KubePrismStatuses reports while the listener for `config` is up. */
export function listenerAddress(config: SpecOfKubePrismConfig): string {
  return formatAddress(config.host, config.port);
}

/** KubePrism's config while it is enabled (undefined otherwise), and whether its listener is up on it. */
export async function readKubePrism(reader: ControllerReader): Promise<{ config: SpecOfKubePrismConfig; listening: boolean } | undefined> {
  const config = await reader.find(ptr(KubePrismConfigType, KUBEPRISM_CONFIG_ID));
  if (!config || config.metadata.phase === 'tearingDown') return undefined;
  const status = await reader.find(ptr(KubePrismStatusType, KUBEPRISM_STATUS_ID));
  return { config: config.spec, listening: status?.spec.listening === true && status.spec.host === listenerAddress(config.spec) };
}

/**
 * Chooses KubePrism or the fallback URL. KubePrism is chosen once its listener is up on the configured
 * port, then kept while it stays enabled (`current` remembers it), so transient health changes never
 * flap the components; disabling it returns to the fallback at once.
 */
export async function chooseServer(reader: ControllerReader, fallback: string, current: string | undefined): Promise<ServerChoice> {
  const kubePrism = await readKubePrism(reader);
  if (!kubePrism) return { server: fallback };
  const { config, listening } = kubePrism;
  const url = httpsURL(config.host, config.port);
  if (!listening && current !== url) return { server: fallback };
  return { server: url, ...(config.tlsServerName !== undefined ? { tlsServerName: config.tlsServerName } : {}) };
}
