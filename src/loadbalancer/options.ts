import { z } from 'zod';
import { ValidationError, type FieldIssue } from '../runtime/errors.js';
import { isLoopbackIp } from '../util/address.js';
import { NotLoopbackError } from './errors.js';

// Messages leave the path out: every issue carries it apart (`listen.port: must be at most 65535`).
const int = (min: number, max: number) =>
  z
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

/** Options of a {@link LoadBalancer}: the one place where the defaults live. */
export const loadBalancerOptionsSchema = z
  .object({
    listen: z
      .object({
        /** Loopback IP to bind (checked separately: a non-loopback host is a {@link NotLoopbackError}). */
        host: z.string({ error: 'must be a string' }).default('127.0.0.1'),
        /** 0 picks an ephemeral port (tests). */
        port: int(0, 65535).default(7445),
        /** Also listen on [::1] with the same port. */
        ipv6: z.boolean({ error: 'must be true or false' }).default(false),
      })
      .strict()
      .prefault({}),
    healthCheck: z
      .object({
        mode: z.enum(['tcp', 'tls', 'readyz'], { error: 'must be one of tcp, tls, readyz' }).default('readyz'),
        intervalMs: int(10, 3_600_000).default(5_000),
        timeoutMs: int(1, 3_600_000).default(2_000),
        /** Relative spread of the interval: 0.2 → ±20 %. */
        jitter: z.number({ error: 'must be a number' }).min(0, 'must be at least 0').max(0.9, 'must be at most 0.9').default(0.2),
      })
      .strict()
      .prefault({}),
    /** SNI and Host for `tls`/`readyz` checks (the proxied TLS is untouched). */
    tlsServerName: z.string({ error: 'must be a string' }).min(1, 'must not be empty').optional(),
    /** Close connections to an upstream that went down or was removed, while a healthy one exists. */
    closeConnectionsOnDown: z.boolean({ error: 'must be true or false' }).default(true),
    /** Client connections at once; more are refused (closed at once) and counted. */
    maxConnections: int(1, 1_000_000).default(8192),
    /** Data queued toward an upstream with no progress for this long closes the connection. */
    stallTimeoutMs: int(100, 3_600_000).default(30_000),
    /** Bound on one dial; a dial that takes longer fails over to the next candidate. */
    dialTimeoutMs: int(1, 600_000).default(3_000),
    /**
     * A connection whose client has sent bytes but whose upstream has answered nothing for this long is
     * moved to the next upstream (the bytes replayed) and the silent one marked down; 0 disables. For
     * TLS, the Kubernetes API's only protocol, the answer is the ServerHello: one round trip plus ~1 ms of
     * handshake CPU, so even a loaded API server answers in well under a second, and one slower than
     * that is in the worst latency tier anyway. A false alarm costs little: the connection still goes
     * through (elsewhere, or stays put when no other upstream is left), and the server is back at its
     * next good check. Plain-TCP upstreams that may stay silent after the client speaks want 0.
     */
    firstByteTimeoutMs: int(0, 600_000).default(1_000),
    /** How long `close()` lets existing connections finish before destroying them. */
    drainTimeoutMs: int(0, 3_600_000).default(10_000),
  })
  .strict();

/** What a caller may pass to `configure` (everything optional). */
export type LoadBalancerOptionsInput = z.input<typeof loadBalancerOptionsSchema>;
/** Fully defaulted, validated options. */
export type LoadBalancerOptions = z.output<typeof loadBalancerOptionsSchema>;

/** One upstream endpoint: an IP or name (IPv6 unbracketed, e.g. `::1`) and a port. */
export const upstreamEndpointSchema = z
  .object({
    host: z
      .string({ error: 'must be a string' })
      .min(1, 'must not be empty')
      .refine((h) => !h.startsWith('['), 'must not be bracketed (write ::1, not [::1])'),
    port: int(1, 65535),
  })
  .strip();

/** An upstream endpoint as given to `setUpstreams`. */
export type UpstreamEndpoint = z.output<typeof upstreamEndpointSchema>;

/** Validate and default options; throws ValidationError (every bad path) or NotLoopbackError. */
export function parseLoadBalancerOptions(input: unknown): LoadBalancerOptions {
  const options = parseOrThrow(loadBalancerOptionsSchema, input ?? {}, 'invalid load balancer options');
  if (!isLoopbackIp(options.listen.host)) throw new NotLoopbackError(options.listen.host);
  return options;
}

/** Validate an upstream list; throws ValidationError naming the offending entries (`0.port`). */
export function parseUpstreamEndpoints(input: unknown): UpstreamEndpoint[] {
  return parseOrThrow(z.array(upstreamEndpointSchema, { error: 'must be an array' }), input, 'invalid upstream list');
}

function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues: FieldIssue[] = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : issue.message,
  }));
  throw new ValidationError(`${what}: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`, issues);
}
