import { z } from 'zod';

/*
 * The balancer's settings: every knob an operator turns, its bounds and its default, written once here.
 *
 * Everything else is derived from `balancerSettingsSchema`:
 * - `LoadBalancerOptions` (options.ts) spreads it, so library users get the same fields and defaults;
 * - the KubePrismConfig resource spec (resources/kubeprism.ts) spreads it around its listen fields;
 * - the machine-config reader (config/setting-forms.ts) walks it to read YAML: the key of each field
 *   (a `…Ms` duration drops the suffix: `intervalMs` is written `interval: 5s`), the nested blocks, the
 *   messages, the unknown-key check with its "did you mean";
 * - the balancer controller (controllers/kubeprism.ts) hands the resource's values over as they are.
 *
 * So adding a setting touches three files:
 *   1. this file: one field below, built with the helpers (`durationMs`, `wholeNumber`, `number`,
 *      `flag`, `oneOf`, a nested `block`) and given its `.default(...)`;
 *   2. the code that uses it (load-balancer.ts, or what it hands the option to);
 *   3. README.md: its row in the settings table.
 * (Plus the tests of what it does; test/config/strict-settings.test.ts fails until the README row exists.
 * The YAML reader, its messages, the resource, the controller and the options need no change.) A
 * setting written elsewhere in YAML than its place here says so with
 * `yamlAt` (see `firstByteTimeoutMs`).
 */

/** How a setting is written in YAML when that differs from its field: see {@link settingForms}. */
export interface SettingForm {
  /** Held in milliseconds, written as a Go duration string (`"5s"`, `"1m30s"`, `"0s"`). */
  readonly duration?: true;
  /** Dotted YAML path relative to the enclosing block, when not the field's own name (nor its `Ms`-less name). */
  readonly yaml?: string;
  /** What the value must be, for messages, when the bounds alone do not say it well (`"1-65535"`). */
  readonly expected?: string;
}

/** The YAML form of each setting that needs one; read by the config reader, never by the balancer. */
export const settingForms = z.registry<SettingForm>();

/** Adds (merges) YAML-form metadata to a schema and returns the same schema. */
export function withForm<S extends z.ZodType>(schema: S, form: SettingForm): S {
  settingForms.add(schema, { ...settingForms.get(schema), ...form });
  return schema;
}

// Messages leave the path out: every issue carries it apart (`listen.port: must be at most 65535`).

/** A whole number within [min, max]. */
export function wholeNumber(min: number, max: number) {
  return z
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);
}

/** A number (fractions allowed) within [min, max]. */
export function number(min: number, max: number) {
  return z.number({ error: 'must be a number' }).min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);
}

/** A duration in whole milliseconds within [minMs, maxMs]; written in YAML as a Go duration string. */
export function durationMs(minMs: number, maxMs: number) {
  return withForm(wholeNumber(minMs, maxMs), { duration: true });
}

/** A boolean. */
export function flag() {
  return z.boolean({ error: 'must be true or false' });
}

/** One of a few words. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `must be one of ${values.join(', ')}` });
}

/** A nested block of settings (a YAML mapping); unknown fields are refused; every field defaulted when absent. */
export function block<S extends z.ZodRawShape>(shape: S) {
  // Every field of a block has a default (BALANCER_DEFAULTS, parsed at load, fails loudly otherwise).
  return z
    .object(shape)
    .strict()
    .prefault({} as never);
}

/** Says where in YAML a setting is written when that is not its own position (relative to its block). */
export function yamlAt<S extends z.ZodType>(path: string, schema: S): S {
  return withForm(schema, { yaml: path });
}

const HOUR_MS = 3_600_000;

/** Health-check modes: TCP connect, TLS handshake, or HTTPS `GET /readyz`. */
export const HEALTH_CHECK_MODES = ['tcp', 'tls', 'readyz'] as const;

/** Every operator-tunable balancer setting with its bounds and default (see the header for how to add one). */
export const balancerSettingsSchema = z
  .object({
    healthCheck: block({
      /** `tcp` (connect), `tls` (handshake) or `readyz` (HTTPS `GET /readyz`; 401/403 count as alive). */
      mode: oneOf(HEALTH_CHECK_MODES).default('readyz'),
      /** Between two checks of one upstream. */
      intervalMs: durationMs(10, HOUR_MS).default(5_000),
      /** Bound on one check (connect, handshake and request). */
      timeoutMs: durationMs(1, HOUR_MS).default(2_000),
      /** Relative spread of the interval: 0.2 → ±20 %. */
      jitter: number(0, 0.9).default(0.2),
    }),
    /** Close connections to an upstream that went down or was removed, while a healthy one exists. */
    closeConnectionsOnDown: flag().default(true),
    /** Client connections at once; more are refused (closed at once) and counted. */
    maxConnections: wholeNumber(1, 1_000_000).default(8192),
    /**
     * A connection whose client has sent bytes but whose upstream has answered nothing for this long is
     * moved to the next upstream (the bytes replayed) and the silent one marked down; 0 disables. For
     * TLS, the Kubernetes API's only protocol, the answer is the ServerHello: one round trip plus ~1 ms of
     * handshake CPU, so even a loaded API server answers in well under a second, and one slower than
     * that is in the worst latency tier anyway. A false alarm costs little: the connection still goes
     * through (elsewhere, or stays put when no other upstream is left), and the server is back at its
     * next good check. Plain-TCP upstreams that may stay silent after the client speaks want 0.
     * Written with the health check in YAML (it is a judgement of the upstream, made by the proxy).
     */
    firstByteTimeoutMs: yamlAt('healthCheck.firstByteTimeout', durationMs(0, 600_000)).default(1_000),
  })
  .strict();

/** The balancer settings, every default applied. */
export type BalancerSettings = z.output<typeof balancerSettingsSchema>;
/** The balancer settings as a caller may give them (every field optional). */
export type BalancerSettingsInput = z.input<typeof balancerSettingsSchema>;

/** The defaults of every balancer setting (what an empty settings block stands for). */
export const BALANCER_DEFAULTS: Readonly<BalancerSettings> = deepFreeze(balancerSettingsSchema.parse({}));

/** The port KubePrism listens on unless configured otherwise. */
export const DEFAULT_LISTEN_PORT = 7445;

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') for (const v of Object.values(value)) deepFreeze(v);
  return Object.freeze(value);
}
