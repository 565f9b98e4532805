import { isIP } from 'node:net';
import { z } from 'zod';
import { balancerSettingsSchema, BALANCER_DEFAULTS, block, DEFAULT_LISTEN_PORT, durationMs } from '../loadbalancer/settings.js';
import { describeValue } from './errors.js';

// Schemas for the few fields kubeprism reads. Talos's own fields are read through a typed window (objects
// strip unknown keys from what they return; the documents are kept untouched elsewhere). kubeprism's own
// settings are defined once, by the balancer (loadbalancer/settings.ts), and read strictly
// (setting-forms.ts): there, an unknown key is an error.

/** `error` option rendering "must be <what> (got <value>)", or "required" when the field is absent. */
export function mustBe(what: string): (iss: { input?: unknown }) => string {
  return (iss) => (iss.input === undefined ? 'required' : `must be ${what} (got ${describeValue(iss.input)})`);
}

/** A mapping (YAML object); the message names the field's expected shape. */
export function mapping<S extends z.ZodRawShape>(shape: S) {
  return z.object(shape, { error: mustBe('a mapping of fields') });
}

/** A TCP port, 1-65535; a quoted one is told to lose its quotes. */
export const portSchema = z.custom<number>((v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535, {
  error: (iss) =>
    typeof iss.input === 'string' && /^\d+$/u.test(iss.input.trim())
      ? `must be a number, not a string (got ${describeValue(iss.input)}); write it without quotes`
      : mustBe('1-65535')(iss),
});

/** A YAML boolean (`true`/`false`; strings like "yes" are refused rather than guessed). */
export const booleanSchema = z.boolean({ error: mustBe('true or false') });

/** `machine.type`: `init` is the legacy name of the first control-plane node and reads as `controlplane`. */
export const machineTypeSchema = z
  .enum(['controlplane', 'worker', 'init'], { error: mustBe('controlplane, worker or init') })
  .transform((t): 'controlplane' | 'worker' => (t === 'init' ? 'controlplane' : t));

/** The cluster endpoint as kubeprism uses it: the URL as written, its host (IPv6 unbracketed) and port. */
export const clusterEndpointSchema = z.object({
  url: z.string(),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
});

/** A cluster endpoint URL: `https://host[:port]`, port 443 when absent, IPv6 hosts in brackets. */
export const endpointSchema = z.string({ error: mustBe('an https URL') }).transform((text, ctx) => {
  const fail = (detail: string): never => {
    const message = `must be an https URL${detail} (got ${describeValue(text)})`;
    ctx.issues.push({ code: 'custom', message, input: text });
    return z.NEVER;
  };
  // WHATWG URL also accepts "https:host"; insist on the usual form so typos are not silently "fixed".
  if (!/^https:\/\/[^/]/iu.test(text)) return fail(' like https://host:6443');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail(' like https://host:6443 (bracket IPv6 addresses)');
  }
  // The balancer forwards raw TCP to host:port, so anything beyond that cannot be honoured.
  if (url.username !== '' || url.password !== '') return fail(' without credentials');
  if (url.search !== '' || url.hash !== '' || (url.pathname !== '/' && url.pathname !== '')) {
    return fail(' with no path, query or fragment');
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === '') return fail(' with a host');
  return { url: text, host, port: url.port === '' ? 443 : Number(url.port) };
});

const DNS_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
const DNS_NAME = new RegExp(`^${DNS_LABEL}(?:\\.${DNS_LABEL})*\\.?$`, 'u');

/** A TLS server name for the API server certificate: a DNS name or an IP address. */
export const tlsServerNameSchema = z.custom<string>(
  (v) => typeof v === 'string' && v.length <= 253 && (isIP(v) !== 0 || DNS_NAME.test(v)),
  { error: mustBe('a DNS name or IP address such as "api.cluster.local"') },
);

/** Talos's discovery switch: `cluster.discovery` with `registries.kubernetes.disabled`; other registries are Talos's. */
export const discoverySwitchSchema = mapping({
  enabled: booleanSchema.optional(),
  registries: mapping({
    kubernetes: mapping({ disabled: booleanSchema.optional() }).optional(),
  }).optional(),
});

/** An absolute file path (relative ones would depend on the agent's working directory). */
export const absolutePathSchema = z.custom<string>(
  (v) => typeof v === 'string' && v.startsWith('/') && v.length <= 4096 && !v.includes('\0'),
  { error: mustBe('an absolute file path such as "/etc/kubernetes/kubelet.conf"') },
);

/** Longest removal delay accepted: an hour (a member gone longer than that is gone). */
export const MAX_REMOVAL_DELAY_MS = 3_600_000;

/** How long a control-plane endpoint may be missing from Kubernetes before its member is removed. */
export const DEFAULT_REMOVAL_DELAY_MS = 30_000;

/**
 * `kubernetesDiscovery` next to the KubePrism port (either form): the credentials the discovery source
 * uses, and how long a control-plane endpoint may be missing from Kubernetes before its member goes.
 * Not a balancer setting, but read the same strict way.
 */
export const kubernetesDiscoveryBlockSchema = block({
  /** Absent: enabled, but without credentials (the source says so in its status and waits). */
  kubeconfig: absolutePathSchema.optional(),
  removalDelayMs: durationMs(0, MAX_REMOVAL_DELAY_MS).default(DEFAULT_REMOVAL_DELAY_MS),
});

/**
 * The parts of a v1alpha1 document kubeprism reads (after `null` fields are dropped, as Go reads them),
 * except `machine.features.kubePrism`, which is read strictly on its own (kubeprism-settings.ts).
 */
export const v1alpha1ReadSchema = mapping({
  machine: mapping({
    type: machineTypeSchema.optional(),
    features: mapping({}).optional(),
  }).optional(),
  cluster: mapping({
    controlPlane: mapping({
      endpoint: endpointSchema.optional(),
      localAPIServerPort: portSchema.optional(),
    }).optional(),
    clusterName: z.string({ error: mustBe('a string') }).optional(),
    discovery: discoverySwitchSchema.optional(),
  }).optional(),
});

/** `kind: KubeClusterConfig` (Talos 1.15): the cluster endpoint and name. */
export const kubeClusterConfigSchema = mapping({
  endpoint: endpointSchema.optional(),
  clusterName: z.string({ error: mustBe('a string') }).optional(),
});

/** `kind: KubeAPIServerConfig` (Talos 1.15): the local API server port. */
export const kubeAPIServerConfigSchema = mapping({ apiPort: portSchema.optional() });

/** KubePrism as the machine config sets it: on or off, where it listens, and every balancer setting. */
export const kubePrismSettingsSchema = z.object({
  enabled: z.boolean(),
  port: z.number().int().min(1).max(65535),
  /** Also listen on `[::1]`. */
  listenIPv6: z.boolean(),
  tlsServerName: z.string().min(1).optional(),
  ...balancerSettingsSchema.shape,
});

/** The Kubernetes discovery source's settings; present in the view only while the source is enabled. */
export const kubernetesDiscoverySettingsSchema = kubernetesDiscoveryBlockSchema.unwrap();

/** What the rest of kubeprism needs from a machine config. */
export const machineConfigViewSchema = z.object({
  machineType: z.enum(['controlplane', 'worker']),
  clusterName: z.string().min(1).optional(),
  clusterEndpoint: clusterEndpointSchema,
  localAPIServerPort: z.number().int().min(1).max(65535),
  kubePrism: kubePrismSettingsSchema,
  kubernetesDiscovery: kubernetesDiscoverySettingsSchema.optional(),
  /** The node's kubeconfigs this config adopts (paths only: the files are read by the adopting controller). */
  adoptKubeconfigs: z.array(z.object({ name: z.string().min(1), path: z.string().min(1) })).optional(),
  /** Where the metrics listener binds (`host:port`), when the config says. */
  metricsAddress: z.string().min(1).optional(),
});

/** KubePrism settings with every default applied. */
export type KubePrismSettings = z.infer<typeof kubePrismSettingsSchema>;
/** The cluster endpoint: URL as written, host (IPv6 unbracketed) and port. */
export type ClusterEndpoint = z.infer<typeof clusterEndpointSchema>;
/** The Kubernetes discovery source's settings, defaults applied. */
export type KubernetesDiscoverySettings = z.infer<typeof kubernetesDiscoverySettingsSchema>;
/** What the rest of kubeprism reads from a machine config. */
export type MachineConfigView = z.infer<typeof machineConfigViewSchema>;
/** A node's role: `init` configs come out as `controlplane`. */
export type MachineType = MachineConfigView['machineType'];

/** What a config that says nothing about KubePrism gets: on at 7445, every balancer default. */
export const KUBEPRISM_DEFAULTS: Readonly<KubePrismSettings> = Object.freeze({
  enabled: true,
  port: DEFAULT_LISTEN_PORT,
  listenIPv6: false,
  ...BALANCER_DEFAULTS,
});

/** The local API server port when the config does not set one. */
export const DEFAULT_LOCAL_API_SERVER_PORT = 6443;
