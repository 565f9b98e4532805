import type { z } from 'zod';
import { formatDuration } from './duration.js';
import { joinPath, type RawIssue } from './issues.js';
import { readWith } from './read.js';
import {
  KUBEPRISM_DEFAULTS,
  kubePrismOptionsShape,
  kubePrismConfigDocumentSchema,
  v1alpha1KubePrismSchema,
  type KubePrismSettings,
} from './schemas.js';

type KubePrismOptions = z.output<z.ZodObject<typeof kubePrismOptionsShape>>;

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

/**
 * Resolves the KubePrism settings from at most one source (the caller reports a second one as an error),
 * applying defaults and the cross-field checks. Returns undefined when any issue was found.
 */
export function resolveKubePrism(source: KubePrismSource | undefined, issues: RawIssue[]): KubePrismSettings | undefined {
  const defaults = KUBEPRISM_DEFAULTS;
  if (source === undefined) return { ...defaults, healthCheck: { ...defaults.healthCheck } };

  const before = issues.length;
  const where = { document: source.document, base: source.base };
  // Both forms share the agent options; only `enabled` (v1alpha1) and `tlsServerName` (document) differ.
  const input: ({ enabled?: boolean; tlsServerName?: string } & KubePrismOptions) | undefined = source.isDocument
    ? readWith(kubePrismConfigDocumentSchema, source.value, issues, where)
    : readWith(v1alpha1KubePrismSchema, source.value, issues, where);
  if (input === undefined) return undefined;

  // A KubePrismConfig document enables KubePrism by being there.
  const enabled = source.isDocument ? true : (input.enabled ?? defaults.enabled);
  const hc = input.healthCheck ?? {};
  const settings: KubePrismSettings = {
    enabled,
    port: input.port ?? defaults.port,
    healthCheck: {
      mode: hc.mode ?? defaults.healthCheck.mode,
      intervalMs: hc.interval ?? defaults.healthCheck.intervalMs,
      timeoutMs: hc.timeout ?? defaults.healthCheck.timeoutMs,
      jitter: hc.jitter ?? defaults.healthCheck.jitter,
      ...(hc.firstByteTimeout !== undefined ? { firstByteTimeoutMs: hc.firstByteTimeout } : {}),
    },
    listenIPv6: input.listenIPv6 ?? defaults.listenIPv6,
    closeConnectionsOnDown: input.closeConnectionsOnDown ?? defaults.closeConnectionsOnDown,
    maxConnections: input.maxConnections ?? defaults.maxConnections,
  };
  if (input.tlsServerName !== undefined) settings.tlsServerName = input.tlsServerName;

  // A check that cannot finish before the next one starts would pile up; refuse it up front.
  const { intervalMs, timeoutMs } = settings.healthCheck;
  if (timeoutMs >= intervalMs) {
    const at = (field: string): string => joinPath(source.base, 'healthCheck', field);
    const [interval, timeout] = [formatDuration(intervalMs), formatDuration(timeoutMs)];
    issues.push(
      hc.timeout !== undefined
        ? {
            document: source.document,
            path: at('timeout'),
            message: `must be less than the interval (${interval}) (got ${timeout})`,
          }
        : {
            document: source.document,
            path: at('interval'),
            message: `must be greater than the timeout (${timeout}, the default) (got ${interval})`,
          },
    );
  }

  return issues.length === before ? settings : undefined;
}
