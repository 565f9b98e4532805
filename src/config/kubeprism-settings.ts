import { z } from 'zod';
import { balancerSettingsSchema, DEFAULT_LISTEN_PORT, flag, wholeNumber, withForm } from '../loadbalancer/settings.js';
import { describeValue } from './errors.js';
import { formatDuration } from './duration.js';
import { joinPath, type RawIssue } from './issues.js';
import { isPlainObject } from './read.js';
import { KUBEPRISM_DEFAULTS, kubernetesDiscoveryBlockSchema, tlsServerNameSchema, type KubePrismSettings } from './schemas.js';
import { adoptKubeconfigsSchema, metricsAddressSchema, type Adoption } from './node-settings.js';
import { readSettings } from './setting-forms.js';

/** The key of kubeprism's discovery settings, next to the KubePrism port in either config form. */
export const KUBERNETES_DISCOVERY_KEY = 'kubernetesDiscovery';

/** The key of the kubeconfigs to adopt, next to the KubePrism port in either config form. */
export const ADOPT_KUBECONFIGS_KEY = 'adoptKubeconfigs';

/**
 * What both forms accept next to the port: where to listen, every balancer setting, discovery's
 * settings, and the node's: kubeconfigs to adopt and the metrics listener.
 */
const sharedFields = {
  port: withForm(wholeNumber(1, 65535), { expected: '1-65535' }).default(DEFAULT_LISTEN_PORT),
  /** Also listen on `[::1]`. */
  listenIPv6: flag().default(false),
  ...balancerSettingsSchema.shape,
  [KUBERNETES_DISCOVERY_KEY]: kubernetesDiscoveryBlockSchema,
  /** The node's component kubeconfigs to rewrite for KubePrism (`--adopt-kubeconfig` adds more). */
  [ADOPT_KUBECONFIGS_KEY]: adoptKubeconfigsSchema.optional(),
  /** Where to serve GET /metrics and /healthz read-only; `--metrics-address` wins over it. */
  metricsAddress: metricsAddressSchema.optional(),
};

/** `machine.features.kubePrism` in a v1alpha1 document. */
export const v1alpha1KubePrismSchema = z.object({ enabled: flag().default(KUBEPRISM_DEFAULTS.enabled), ...sharedFields }).strict();

/** A `kind: KubePrismConfig` document (Talos 1.15) without its apiVersion and kind: its presence enables KubePrism. */
export const kubePrismConfigDocumentSchema = z
  .object({
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
    ...sharedFields,
  })
  .strict();

/** Keys valid in the other form only, and what to say when they turn up in the v1alpha1 block. */
const V1ALPHA1_MISPLACED = {
  tlsServerName: 'tlsServerName is read from a KubePrismConfig document (Talos 1.15 form) only',
};

/** Where KubePrism settings were written: a document and the path of the settings block inside it. */
export interface KubePrismSource {
  document: number;
  /** `machine.features.kubePrism` in the v1alpha1 document, `""` for a KubePrismConfig document. */
  base: string;
  /** The block itself (nulls already dropped). */
  value: unknown;
  /** True for a `kind: KubePrismConfig` document, whose presence alone enables KubePrism. */
  isDocument: boolean;
}

/** KubePrism's settings and the discovery and node settings written next to them. */
export interface KubePrismBlock {
  kubePrism: KubePrismSettings;
  kubernetesDiscovery: z.output<typeof kubernetesDiscoveryBlockSchema>;
  adoptKubeconfigs: Adoption[];
  metricsAddress?: string;
}

/** What the config is judged against beyond its own text: the agent's command line. */
export interface ParseContext {
  /** Kubeconfigs adopted by `--adopt-kubeconfig NAME=PATH`, by name: the config may not adopt them again. */
  readonly adoptedByFlag?: ReadonlyMap<string, string>;
}

/**
 * Reads the KubePrism settings from at most one source (the caller reports a second one as an error):
 * every key checked, defaults applied, then the cross-field checks. Returns undefined when any issue was
 * found. Without a source, KubePrism is on with every default.
 */
export function resolveKubePrism(
  source: KubePrismSource | undefined,
  issues: RawIssue[],
  context: ParseContext = {},
): KubePrismBlock | undefined {
  if (source === undefined) {
    return {
      kubePrism: structuredClone(KUBEPRISM_DEFAULTS),
      kubernetesDiscovery: kubernetesDiscoveryBlockSchema.parse({}),
      adoptKubeconfigs: [],
    };
  }
  const before = issues.length;
  const place = { document: source.document, base: source.base };
  let read: z.output<typeof v1alpha1KubePrismSchema> | z.output<typeof kubePrismConfigDocumentSchema> | undefined;
  if (source.isDocument) {
    // The document's header was judged when the documents were sorted; the rest is settings.
    const { apiVersion: _v, kind: _k, ...settings } = isPlainObject(source.value) ? source.value : {};
    read = readSettings(kubePrismConfigDocumentSchema, isPlainObject(source.value) ? settings : source.value, issues, place);
  } else {
    read = readSettings(v1alpha1KubePrismSchema, source.value, issues, { ...place, misplaced: V1ALPHA1_MISPLACED });
  }
  if (read === undefined) return undefined;

  const tlsServerName = 'tlsServerName' in read ? read.tlsServerName : undefined;
  const kubePrism: KubePrismSettings = {
    // A KubePrismConfig document enables KubePrism by being there.
    enabled: source.isDocument || read.enabled !== false,
    port: read.port,
    listenIPv6: read.listenIPv6,
    ...(tlsServerName !== undefined ? { tlsServerName } : {}),
    ...pick(read, balancerSettingsSchema.keyof().options),
  };

  // A check that cannot finish before the next one starts would pile up; refuse it up front.
  const { intervalMs, timeoutMs } = kubePrism.healthCheck;
  if (timeoutMs >= intervalMs) {
    const at = (field: string): string => joinPath(source.base, 'healthCheck', field);
    const [interval, timeout] = [formatDuration(intervalMs), formatDuration(timeoutMs)];
    const written = isPlainObject(source.value) && isPlainObject(source.value.healthCheck) && source.value.healthCheck.timeout != null;
    issues.push(
      written
        ? { document: source.document, path: at('timeout'), message: `must be less than the interval (${interval}) (got ${timeout})` }
        : {
            document: source.document,
            path: at('interval'),
            message: `must be greater than the timeout (${timeout}, the default) (got ${interval})`,
          },
    );
  }
  const adoptKubeconfigs = (read.adoptKubeconfigs ?? []).map(({ name, path }) => ({ name, path }));
  adoptKubeconfigs.forEach(({ name }, index) => {
    const flag = context.adoptedByFlag?.get(name);
    if (flag === undefined) return;
    issues.push({
      document: source.document,
      path: joinPath(source.base, ADOPT_KUBECONFIGS_KEY, index, 'name'),
      message: `${name} is also adopted by --adopt-kubeconfig ${name}=${flag}; adopt it in one place only`,
    });
  });
  if (issues.length > before) return undefined;
  return {
    kubePrism,
    kubernetesDiscovery: read.kubernetesDiscovery,
    adoptKubeconfigs,
    ...(read.metricsAddress !== undefined ? { metricsAddress: read.metricsAddress } : {}),
  };
}

/** The named fields of an object (the balancer's settings out of the whole block). */
function pick<T extends object, K extends keyof T>(from: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const key of keys) out[key] = from[key];
  return out;
}
