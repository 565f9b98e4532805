import { isIP } from 'node:net';
import { z } from 'zod';
import { formatDuration, tryParseDuration } from './duration.js';
import { describeValue } from './errors.js';

// Schemas for the few fields kubeprism reads. Objects strip unknown keys from what they return, but the
// documents themselves are kept untouched elsewhere: this is a typed window, never a rewrite.

/** Health-check modes: TCP connect, TLS handshake, or HTTPS `GET /readyz`. */
export const HEALTH_CHECK_MODES = ['tcp', 'tls', 'readyz'] as const;

/** Health-check duration bounds, in whole milliseconds; they match what the balancer itself accepts. */
export const HEALTH_CHECK_LIMITS = Object.freeze({
  minIntervalMs: 10,
  minTimeoutMs: 1,
  maxDurationMs: 3_600_000,
  maxConnections: 1_000_000,
  maxFirstByteTimeoutMs: 600_000,
});

const LIMITS = HEALTH_CHECK_LIMITS;

/** `error` option rendering "must be <what> (got <value>)", or "required" when the field is absent. */
export function mustBe(what: string): (iss: { input?: unknown }) => string {
  return (iss) => (iss.input === undefined ? 'required' : `must be ${what} (got ${describeValue(iss.input)})`);
}

/** A mapping (YAML object); the message names the field's expected shape. */
export function mapping<S extends z.ZodRawShape>(shape: S) {
  return z.object(shape, { error: mustBe('a mapping of fields') });
}

/** A TCP port, 1-65535. */
export const portSchema = z.custom<number>((v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535, {
  error: mustBe('1-65535'),
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

/** A Go-style duration string (`5s`, `500ms`, `1m30s`) read into whole milliseconds within [minMs, maxMs]. */
export function durationSchema(minMs: number, maxMs: number) {
  return z.string({ error: mustBe('a duration string such as "5s"') }).transform((text, ctx) => {
    const result = tryParseDuration(text);
    const got = `(got ${describeValue(text)})`;
    const problem = !result.ok
      ? result.message
      : result.ms < minMs
        ? `must be at least ${formatDuration(minMs)} ${got}`
        : result.ms > maxMs
          ? `must be at most ${formatDuration(maxMs)} ${got}`
          : !Number.isInteger(result.ms)
            ? `must be a whole number of milliseconds ${got}`
            : undefined;
    if (problem !== undefined || !result.ok) {
      ctx.issues.push({ code: 'custom', message: problem ?? '', input: text });
      return z.NEVER;
    }
    return result.ms;
  });
}

/** Jitter as a fraction of the interval, in [0, 0.9]: the balancer never lets a check interval shrink to nothing. */
export const jitterSchema = z.custom<number>((v) => typeof v === 'number' && v >= 0 && v <= 0.9, {
  error: mustBe('a number from 0 to 0.9'),
});

const DNS_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
const DNS_NAME = new RegExp(`^${DNS_LABEL}(?:\\.${DNS_LABEL})*\\.?$`, 'u');

/** A TLS server name for the API server certificate: a DNS name or an IP address. */
export const tlsServerNameSchema = z.custom<string>(
  (v) => typeof v === 'string' && v.length <= 253 && (isIP(v) !== 0 || DNS_NAME.test(v)),
  { error: mustBe('a DNS name or IP address such as "api.cluster.local"') },
);

/** The `healthCheck` block as written in a config (all optional; defaults are applied later, in one place). */
export const healthCheckInputSchema = mapping({
  mode: z.enum(HEALTH_CHECK_MODES, { error: mustBe('tcp, tls or readyz') }).optional(),
  interval: durationSchema(HEALTH_CHECK_LIMITS.minIntervalMs, HEALTH_CHECK_LIMITS.maxDurationMs).optional(),
  timeout: durationSchema(HEALTH_CHECK_LIMITS.minTimeoutMs, HEALTH_CHECK_LIMITS.maxDurationMs).optional(),
  jitter: jitterSchema.optional(),
  /** Silence of an upstream after the client spoke that moves the connection elsewhere; `0s` disables. */
  firstByteTimeout: durationSchema(0, HEALTH_CHECK_LIMITS.maxFirstByteTimeoutMs).optional(),
});

/** kubeprism's own agent settings, accepted wherever the KubePrism port is (both config forms). */
export const kubePrismOptionsShape = {
  port: portSchema.optional(),
  healthCheck: healthCheckInputSchema.optional(),
  listenIPv6: booleanSchema.optional(),
  closeConnectionsOnDown: booleanSchema.optional(),
  maxConnections: z
    .custom<number>((v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= LIMITS.maxConnections, {
      error: mustBe(`a whole number from 1 to ${LIMITS.maxConnections}`),
    })
    .optional(),
};

/** `machine.features.kubePrism` in a v1alpha1 document. */
export const v1alpha1KubePrismSchema = mapping({ enabled: booleanSchema.optional(), ...kubePrismOptionsShape });

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

/**
 * `kubernetesDiscovery` next to the KubePrism port (either form): the credentials the discovery source
 * uses, and how long a control-plane endpoint may be missing from Kubernetes before its member goes.
 */
export const kubernetesDiscoveryInputSchema = mapping({
  kubeconfig: absolutePathSchema.optional(),
  removalDelay: durationSchema(0, MAX_REMOVAL_DELAY_MS).optional(),
});

/**
 * The parts of a v1alpha1 document kubeprism reads (after `null` fields are dropped, as Go reads them),
 * except `machine.features.kubePrism`, which is read with `v1alpha1KubePrismSchema` on its own.
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

/** `kind: KubePrismConfig` (Talos 1.15): its presence enables KubePrism; `enabled: false` here is a contradiction. */
export const kubePrismConfigDocumentSchema = mapping({
  enabled: z
    .literal(true, {
      error: (iss) =>
        iss.input === false
          ? 'a KubePrismConfig document always enables KubePrism; remove the document and set ' +
            'machine.features.kubePrism.enabled: false to turn it off'
          : `must be true or false (got ${describeValue(iss.input)})`,
    })
    .optional(),
  tlsServerName: tlsServerNameSchema.optional(),
  ...kubePrismOptionsShape,
});

/** The complete health-check settings kubeprism runs with. */
export const healthCheckSettingsSchema = z.object({
  mode: z.enum(HEALTH_CHECK_MODES),
  intervalMs: z.number().int().min(HEALTH_CHECK_LIMITS.minIntervalMs).max(HEALTH_CHECK_LIMITS.maxDurationMs),
  timeoutMs: z.number().int().min(HEALTH_CHECK_LIMITS.minTimeoutMs).max(HEALTH_CHECK_LIMITS.maxDurationMs),
  jitter: z.number().min(0).max(0.9),
  /** Only when the config sets it: the balancer's own default applies otherwise. */
  firstByteTimeoutMs: z.number().int().min(0).max(HEALTH_CHECK_LIMITS.maxFirstByteTimeoutMs).optional(),
});

/** The complete KubePrism settings, defaults applied. */
export const kubePrismSettingsSchema = z.object({
  enabled: z.boolean(),
  port: z.number().int().min(1).max(65535),
  tlsServerName: z.string().min(1).optional(),
  healthCheck: healthCheckSettingsSchema,
  listenIPv6: z.boolean(),
  closeConnectionsOnDown: z.boolean(),
  maxConnections: z.number().int().min(1).max(HEALTH_CHECK_LIMITS.maxConnections),
});

/** The Kubernetes discovery source's settings; present in the view only while the source is enabled. */
export const kubernetesDiscoverySettingsSchema = z.object({
  /** Absent: enabled, but without credentials (the source says so in its status and waits). */
  kubeconfig: z.string().min(1).optional(),
  removalDelayMs: z.number().int().min(0).max(MAX_REMOVAL_DELAY_MS),
});

/** What the rest of kubeprism needs from a machine config. */
export const machineConfigViewSchema = z.object({
  machineType: z.enum(['controlplane', 'worker']),
  clusterName: z.string().min(1).optional(),
  clusterEndpoint: clusterEndpointSchema,
  localAPIServerPort: z.number().int().min(1).max(65535),
  kubePrism: kubePrismSettingsSchema,
  kubernetesDiscovery: kubernetesDiscoverySettingsSchema.optional(),
});

/** Health-check settings: mode, interval, timeout (milliseconds), jitter (fraction of the interval), first-byte timeout. */
export type HealthCheckSettings = z.infer<typeof healthCheckSettingsSchema>;
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

/** Defaults, in one place: KubePrism is on at 7445 when a config says nothing about it. */
export const KUBEPRISM_DEFAULTS: Readonly<KubePrismSettings> = Object.freeze({
  enabled: true,
  port: 7445,
  healthCheck: Object.freeze<HealthCheckSettings>({ mode: 'readyz', intervalMs: 5000, timeoutMs: 2000, jitter: 0.2 }),
  listenIPv6: false,
  closeConnectionsOnDown: true,
  maxConnections: 8192,
});

/** How long a control-plane endpoint may be missing from Kubernetes before its member is removed. */
export const DEFAULT_REMOVAL_DELAY_MS = 30_000;

/** The local API server port when the config does not set one. */
export const DEFAULT_LOCAL_API_SERVER_PORT = 6443;
