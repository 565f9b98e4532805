import { z } from 'zod';
import { balancerSettingsSchema } from '../loadbalancer/settings.js';
import { defineResource, type SpecOf } from '../runtime/index.js';
import { formatAddress } from '../util/address.js';

/** Resource ids fixed by Talos. */
export const KUBEPRISM_CONFIG_ID = 'k8s-loadbalancer-config';
export const KUBEPRISM_ENDPOINTS_ID = 'k8s-cluster';
export const KUBEPRISM_STATUS_ID = 'k8s-loadbalancer';

const port = z.number().int().min(1).max(65535);
const loopback = z.string().refine((h) => h === '127.0.0.1' || h === '::1', 'must be 127.0.0.1 or ::1');

/**
 * Balancer settings derived from the machine config; exists only while KubePrism is enabled. Where it
 * listens, around every balancer setting as the balancer defines it (loadbalancer/settings.ts).
 */
export const KubePrismConfigType = defineResource({
  type: 'KubePrismConfigs.kubernetes.talos.dev',
  defaultNamespace: 'k8s',
  schema: z
    .object({
      host: loopback,
      port,
      /** Addresses the listener binds: 127.0.0.1, plus ::1 with listenIPv6. */
      listenAddresses: z.array(loopback).min(1),
      tlsServerName: z.string().min(1).optional(),
      ...balancerSettingsSchema.shape,
    })
    .strict(),
  printColumns: [
    { name: 'Host', jsonPath: '{.host}' },
    { name: 'Port', jsonPath: '{.port}' },
    { name: 'Health Check', jsonPath: '{.healthCheck.mode}' },
  ],
});

/** Where an endpoint came from. */
export const endpointSourceSchema = z.enum(['clusterEndpoint', 'localAPIServer', 'member']);

/** One upstream candidate: IPv6 hosts unbracketed. */
export const kubePrismEndpointSchema = z.object({
  host: z
    .string()
    .min(1)
    .refine((h) => !h.startsWith('['), 'IPv6 hosts are stored without brackets'),
  port,
  source: endpointSourceSchema,
  /** The member id, for `member` endpoints. */
  member: z.string().optional(),
});

/** One endpoint of the balancer's upstream list. */
export type KubePrismEndpoint = z.infer<typeof kubePrismEndpointSchema>;

/** Every API server the balancer may forward to, de-duplicated by host:port, in preference order. */
export const KubePrismEndpointsType = defineResource({
  type: 'KubePrismEndpoints.kubernetes.talos.dev',
  defaultNamespace: 'k8s',
  schema: z.object({ endpoints: z.array(kubePrismEndpointSchema) }),
  printColumns: [{ name: 'Endpoints', jsonPath: '{.endpoints}' }],
});

/** The balancer's overall state: listener up, some upstream usable, and why not. */
export const KubePrismStatusType = defineResource({
  type: 'KubePrismStatuses.kubernetes.talos.dev',
  defaultNamespace: 'k8s',
  schema: z.object({
    /** `127.0.0.1:<port>`. */
    host: z.string(),
    healthy: z.boolean(),
    listening: z.boolean(),
    error: z.string().optional(),
  }),
  printColumns: [
    { name: 'Host', jsonPath: '{.host}' },
    { name: 'Healthy', jsonPath: '{.healthy}' },
    { name: 'Listening', jsonPath: '{.listening}' },
    { name: 'Error', jsonPath: '{.error}' },
  ],
});

/** `host:port` with IPv6 hosts bracketed: the id of an upstream resource. */
export function upstreamId(host: string, upstreamPort: number): string {
  return formatAddress(host, upstreamPort);
}

/** One upstream's health as the balancer sees it; id `host:port`. */
export const KubePrismUpstreamType = defineResource({
  type: 'KubePrismUpstreams.kubernetes.talos.dev',
  defaultNamespace: 'k8s',
  schema: z.object({
    host: z.string(),
    port,
    healthy: z.boolean(),
    /** Signed streak: +n after n good checks, -n after n failures. */
    score: z.number().int(),
    /** Latency tier: 0 (<100 µs), 1 (<1 ms), 2 (<10 ms), 3 (<100 ms), 4 (<1 s), 5 (slower or unmeasured). */
    tier: z.number().int().min(0).max(5),
    latencyMs: z.number().min(0).optional(),
    activeConnections: z.number().int().min(0),
    lastError: z.string().optional(),
  }),
  printColumns: [
    { name: 'Healthy', jsonPath: '{.healthy}' },
    { name: 'Tier', jsonPath: '{.tier}' },
    { name: 'Score', jsonPath: '{.score}' },
    { name: 'Latency (ms)', jsonPath: '{.latencyMs}' },
    { name: 'Connections', jsonPath: '{.activeConnections}' },
    { name: 'Last Error', jsonPath: '{.lastError}' },
  ],
});

/** Spec of KubePrismConfigs. */
export type SpecOfKubePrismConfig = SpecOf<typeof KubePrismConfigType>;
