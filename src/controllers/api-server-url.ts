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

/** KubePrism's config while it is enabled, and whether its listener is up on it (see {@link readKubePrism}). */
export type KubePrismState = Awaited<ReturnType<typeof readKubePrism>>;

/**
 * The one rule for every component: KubePrism once its listener is up on the configured port, then kept
 * while it stays enabled (`current` is the server the component uses now), so transient health changes
 * never flap the components; disabled, or not yet listening, the component's fallback.
 */
export function chooseServer(kubePrism: KubePrismState, fallback: string, current: string | undefined): ServerChoice {
  if (!kubePrism) return { server: fallback };
  const { config, listening } = kubePrism;
  const url = httpsURL(config.host, config.port);
  if (!listening && current !== url) return { server: fallback };
  return { server: url, ...(config.tlsServerName !== undefined ? { tlsServerName: config.tlsServerName } : {}) };
}
