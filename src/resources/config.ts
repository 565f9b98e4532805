import { z } from 'zod';
import { machineConfigViewSchema } from '../config/index.js';
import { defineResource, type SpecOf } from '../runtime/index.js';

/** The one machine config id, as in Talos. */
export const MACHINE_CONFIG_ID = 'v1alpha1';

const REDACTED = '(redacted)';
const SECRET_KEY = /(^|[a-z])(token|key|crt|cert|secret|password|passphrase)$/i;
// PEM text, or PEM base64-encoded ("-----BEGIN" starts "LS0tLS1CRUdJTi").
const SECRET_VALUE = /^(-----BEGIN |LS0tLS1CRUdJTi)/;

/** Masks every value that is or may hold a credential: keys, tokens, certificates, secrets. */
export function redactSecrets(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, key));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactSecrets(v, k)]));
  }
  if (typeof value === 'string' && (SECRET_KEY.test(key) || SECRET_VALUE.test(value))) return REDACTED;
  return value;
}

/**
 * The machine config in force: every YAML document as parsed, kept untouched (holds secrets), and the
 * view kubeprism reads from them, interpreted once when the config was applied (holds none).
 */
export const MachineConfigType = defineResource({
  type: 'MachineConfigs.config.talos.dev',
  defaultNamespace: 'config',
  sensitivity: 'sensitive',
  schema: z.object({ documents: z.array(z.unknown()), view: machineConfigViewSchema }),
  redact: (spec) => ({ documents: spec.documents.map((doc) => redactSecrets(doc)), view: spec.view }),
  printColumns: [{ name: 'Documents', jsonPath: '{.documents.length}' }],
});

/** A path in a rejected document and what is wrong there (`""` for the whole document). */
export const fieldIssueSchema = z.object({ path: z.string(), message: z.string() });

/** Where the config in force came from, which version of it applies, and the last rejection. */
export const MachineConfigStatusType = defineResource({
  type: 'MachineConfigStatuses.config.talos.dev',
  defaultNamespace: 'config',
  schema: z.object({
    /** `file:/path`, `api`, `embedded` or `last-good:/path`. */
    source: z.string(),
    /** MachineConfig resource version in force; 0 when none is. */
    appliedVersion: z.number().int().min(0),
    appliedAt: z.string().optional(),
    /** True when running on the persisted last good config because the source could not be used. */
    usingLastGood: z.boolean(),
    /**
     * The state file a config applied through the API (or by an embedder) was restored from at start:
     * it outlives restarts until the config file changes.
     */
    restoredFrom: z.string().optional(),
    /** Why the last good config could not be saved to the state directory (the config still applies). */
    persistError: z.string().optional(),
    lastError: z
      .object({
        source: z.string(),
        message: z.string(),
        issues: z.array(fieldIssueSchema),
        at: z.string(),
      })
      .optional(),
  }),
  printColumns: [
    { name: 'Source', jsonPath: '{.source}' },
    { name: 'Applied', jsonPath: '{.appliedVersion}' },
    { name: 'Last Good', jsonPath: '{.usingLastGood}' },
    { name: 'Error', jsonPath: '{.lastError.message}' },
  ],
});

/** Spec of MachineConfigs: the documents and their interpreted view. */
export type MachineConfigSpec = SpecOf<typeof MachineConfigType>;

/** Spec of MachineConfigStatuses. */
export type MachineConfigStatusSpec = SpecOf<typeof MachineConfigStatusType>;
