import { z } from 'zod';
import { defineResource, type SpecOf } from '../runtime/index.js';

/** Id of the Kubernetes discovery source's status (one status per source, named after it). */
export const KUBERNETES_DISCOVERY_ID = 'kubernetes';

/** Id of the members file's status (`--members FILE`). */
export const MEMBERS_FILE_DISCOVERY_ID = 'members-file';

/** Where a discovery source is in its cycle. */
export const discoveryPhaseSchema = z.enum([
  /** Switched off in the machine config (or no config yet). */
  'disabled',
  /** Switched on but cannot start: no credentials, KubePrism off or not listening yet (`waitingFor` says which). */
  'waiting',
  /** Listing the current state. */
  'listing',
  /** In sync, following changes. */
  'watching',
  /** The last attempt failed; the next one comes after a backoff. */
  'backoff',
  /** The source's current input cannot be used (unreadable or invalid); the members it gave before stay. */
  'rejected',
]);

/** A discovery source's state: whether it runs, when it last synced, what it found, and its last error. */
export const DiscoveryStatusType = defineResource({
  type: 'DiscoveryStatuses.cluster.talos.dev',
  defaultNamespace: 'cluster',
  schema: z.object({
    enabled: z.boolean(),
    phase: discoveryPhaseSchema,
    /** Why a `waiting` source cannot start. */
    waitingFor: z.string().optional(),
    /** What it talks to: the local KubePrism listener (`https://127.0.0.1:<port>`). */
    server: z.string().optional(),
    /** What it reads: the members file's absolute path. */
    file: z.string().optional(),
    /** Last successful list, watch event or bookmark; for a file, the last applied read (ISO time). */
    lastSyncTime: z.string().optional(),
    /** The resourceVersion the watch resumes from. */
    resourceVersion: z.string().optional(),
    /** Members in the last known state (ready endpoints, de-duplicated by address; for a file, its members in force). */
    members: z.number().int().min(0),
    /** Members kept while absent from Kubernetes, until the removal delay has passed. */
    leaving: z.number().int().min(0),
    /** Member ids another source (file, API) already holds; they are left alone. */
    conflicts: z.array(z.string()).optional(),
    /** Full re-lists since the source started (410 Gone, ERROR events, broken watches, failures); for a file, re-reads of changed content. */
    relists: z.number().int().min(0),
    /** The last failure: a stable code, the message, and when; kept after recovery (see lastSyncTime). */
    lastError: z.object({ code: z.string(), message: z.string(), time: z.string() }).optional(),
  }),
  printColumns: [
    { name: 'Enabled', jsonPath: '{.enabled}' },
    { name: 'Phase', jsonPath: '{.phase}' },
    { name: 'Members', jsonPath: '{.members}' },
    { name: 'Last Sync', jsonPath: '{.lastSyncTime}' },
    { name: 'Resource Version', jsonPath: '{.resourceVersion}' },
    { name: 'Last Error', jsonPath: '{.lastError.message}' },
  ],
});

/** Spec of DiscoveryStatuses. */
export type DiscoveryStatusSpec = SpecOf<typeof DiscoveryStatusType>;
