import { isIP } from 'node:net';
import { z } from 'zod';
import { memberSpecSchema, type MemberSpec } from '../config/index.js';

/** The label every EndpointSlice of a Service carries; the API servers' Service is `default/kubernetes`. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** The Service whose slices list every kube-apiserver. */
export const KUBERNETES_SERVICE = 'kubernetes';

// Only the fields read here are checked; everything else an API server sends is ignored (and dropped).
const endpointSchema = z.object({
  addresses: z.array(z.string()).max(100),
  conditions: z.object({ ready: z.boolean().nullish() }).nullish(),
  nodeName: z.string().nullish(),
});

/** An EndpointSlice (`discovery.k8s.io/v1`), as far as discovery reads it. */
export const endpointSliceSchema = z.object({
  metadata: z.object({
    name: z.string().min(1),
    resourceVersion: z.string().optional(),
    labels: z.record(z.string(), z.string()).nullish(),
  }),
  addressType: z.string(),
  // At most 1000 endpoints per slice is the API's own limit.
  endpoints: z.array(endpointSchema).max(1000).nullish(),
  ports: z
    .array(z.object({ name: z.string().nullish(), port: z.number().nullish() }))
    .max(100)
    .nullish(),
});

/** An EndpointSlice as received. */
export type EndpointSlice = z.infer<typeof endpointSliceSchema>;

/** An EndpointSliceList: the items and the resourceVersion to watch from. */
export const endpointSliceListSchema = z.object({
  metadata: z.object({ resourceVersion: z.string().min(1) }),
  items: z.array(z.unknown()).nullish(),
});

/** One line of a watch stream. */
export const watchEventSchema = z.object({
  type: z.enum(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']),
  // Loose: the object is read again as a slice or a Status, so nothing may be stripped here.
  object: z.object({ metadata: z.object({ resourceVersion: z.string().optional() }).loose().nullish() }).loose(),
});

/** The Status object of an ERROR event or a failed request (`code` is the HTTP status it stands for). */
export const statusSchema = z.object({
  code: z.number().optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
});

/** Prefix of discovered member ids: keeps them apart from node-name ids fed by a file or the API. */
export const MEMBER_ID_PREFIX = 'k8s-';

/**
 * The member id for an API server address: `k8s-<address>`. The address is the only identity the
 * `kubernetes` slices give (kube-apiserver publishes no node name or target), and it stays the same
 * across re-lists, slice renames and endpoints moving between slices; a port change updates the member.
 */
export function memberIdFor(address: string): string {
  return `${MEMBER_ID_PREFIX}${address.toLowerCase()}`;
}

/** The API server port of a slice: the port named `https`, else the only one; undefined when neither. */
export function slicePort(slice: EndpointSlice): number | undefined {
  const ports = (slice.ports ?? []).filter((p) => Number.isInteger(p.port) && (p.port as number) >= 1 && (p.port as number) <= 65535);
  const chosen = ports.find((p) => p.name === 'https') ?? (ports.length === 1 ? ports[0] : undefined);
  return chosen?.port ?? undefined;
}

/** What the slices say: members by id, and why some slices or endpoints were left out. */
export interface SliceMembers {
  readonly members: Map<string, MemberSpec>;
  readonly skipped: string[];
}

/**
 * Every ready endpoint (`conditions.ready` not false; unset means ready) of the given slices as a
 * control-plane member, slices taken by name so the first slice listing an address wins.
 */
export function membersFromSlices(slices: Iterable<EndpointSlice>): SliceMembers {
  const members = new Map<string, MemberSpec>();
  const skipped: string[] = [];
  const sorted = [...slices].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  for (const slice of sorted) {
    const name = slice.metadata.name;
    const family = slice.addressType === 'IPv4' ? 4 : slice.addressType === 'IPv6' ? 6 : 0;
    if (family === 0) {
      skipped.push(`${name}: address type ${slice.addressType} (members need IP addresses)`);
      continue;
    }
    const port = slicePort(slice);
    if (port === undefined) {
      skipped.push(`${name}: no port named https and not exactly one port`);
      continue;
    }
    for (const endpoint of slice.endpoints ?? []) {
      if (endpoint.conditions?.ready === false) continue;
      for (const address of endpoint.addresses) {
        if (isIP(address) !== family) {
          skipped.push(`${name}: ${JSON.stringify(address.slice(0, 64))} is not an IPv${family} address`);
          continue;
        }
        const id = memberIdFor(address);
        if (members.has(id)) continue;
        // kube-apiserver's own slices carry no node name; the address then names the member too.
        const given = endpoint.nodeName;
        const nodeName = given && given.trim() === given ? given : address.toLowerCase();
        const parsed = memberSpecSchema.safeParse({
          nodeId: nodeName,
          hostname: nodeName,
          machineType: 'controlplane',
          addresses: [address.toLowerCase()],
          controlPlane: { apiServerPort: port },
        });
        if (parsed.success) members.set(id, parsed.data);
        else skipped.push(`${name}: endpoint ${address} does not make a valid member`);
      }
    }
  }
  return { members, skipped };
}
