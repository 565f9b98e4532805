import { memberSpecSchema } from '../config/index.js';
import { defineResource } from '../runtime/index.js';

/** Label naming who fed a member in: `file`, `api`, `embedded`, `kubernetes`. */
export const MEMBER_SOURCE_LABEL = 'kubeprism.dev/source';

/** A cluster member found by discovery (file, API, embedding agent or Kubernetes), keyed by node name. */
export const MemberType = defineResource({
  type: 'Members.cluster.talos.dev',
  defaultNamespace: 'cluster',
  schema: memberSpecSchema,
  printColumns: [
    { name: 'Hostname', jsonPath: '{.hostname}' },
    { name: 'Machine Type', jsonPath: '{.machineType}' },
    { name: 'Addresses', jsonPath: '{.addresses}' },
    { name: 'API Port', jsonPath: '{.controlPlane.apiServerPort}' },
  ],
});
