import { z } from 'zod';
import { ValidationError, type FieldIssue } from '../runtime/errors.js';
import { isLoopbackIp } from '../util/address.js';
import { NotLoopbackError } from './errors.js';
import { balancerSettingsSchema, DEFAULT_LISTEN_PORT, flag, wholeNumber } from './settings.js';

/**
 * Options of a {@link LoadBalancer}: where it listens, the operator's settings (settings.ts, where their
 * defaults live) and a few internal bounds no config exposes.
 */
export const loadBalancerOptionsSchema = z
  .object({
    listen: z
      .object({
        /** Loopback IP to bind (checked separately: a non-loopback host is a {@link NotLoopbackError}). */
        host: z.string({ error: 'must be a string' }).default('127.0.0.1'),
        /** 0 picks an ephemeral port (tests). */
        port: wholeNumber(0, 65535).default(DEFAULT_LISTEN_PORT),
        /** Also listen on [::1] with the same port. */
        ipv6: flag().default(false),
      })
      .strict()
      .prefault({}),
    /** SNI and Host for `tls`/`readyz` checks (the proxied TLS is untouched). */
    tlsServerName: z.string({ error: 'must be a string' }).min(1, 'must not be empty').optional(),
    ...balancerSettingsSchema.shape,
    /** Data queued toward an upstream with no progress for this long closes the connection. */
    stallTimeoutMs: wholeNumber(100, 3_600_000).default(30_000),
    /** Bound on one dial; a dial that takes longer fails over to the next candidate. */
    dialTimeoutMs: wholeNumber(1, 600_000).default(3_000),
    /** How long `close()` lets existing connections finish before destroying them. */
    drainTimeoutMs: wholeNumber(0, 3_600_000).default(10_000),
  })
  .strict();

/** What a caller may pass to `configure` (everything optional). */
export type LoadBalancerOptionsInput = z.input<typeof loadBalancerOptionsSchema>;
/** Fully defaulted, validated options. */
export type LoadBalancerOptions = z.output<typeof loadBalancerOptionsSchema>;

/** Every option at its default (listening on 127.0.0.1:7445); parsed once, here. */
export const LOAD_BALANCER_DEFAULTS: Readonly<LoadBalancerOptions> = Object.freeze(loadBalancerOptionsSchema.parse({}));

/** One upstream endpoint: an IP or name (IPv6 unbracketed, e.g. `::1`) and a port. */
export const upstreamEndpointSchema = z
  .object({
    host: z
      .string({ error: 'must be a string' })
      .min(1, 'must not be empty')
      .refine((h) => !h.startsWith('['), 'must not be bracketed (write ::1, not [::1])'),
    port: wholeNumber(1, 65535),
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
