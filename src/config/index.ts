// Public surface of the config package: machine configs, members files, durations and their errors.
export { InvalidConfigError, INVALID_CONFIG, formatIssue } from './errors.js';
export { parseDuration, tryParseDuration, formatDuration, type DurationResult } from './duration.js';
export { parseMachineConfig, parseMachineConfigDocuments, machineConfigView, type MachineConfig } from './machine-config.js';
export { CONFIG_VERSION, READ_KINDS } from './documents.js';
export {
  parseMembersFile,
  memberSpecSchema,
  memberIdSchema,
  ipAddressSchema,
  ID_PATTERN,
  MAX_ID_LENGTH,
  type MemberSpec,
  type MemberEntry,
} from './members-file.js';
export {
  KUBEPRISM_DEFAULTS,
  DEFAULT_LOCAL_API_SERVER_PORT,
  DEFAULT_REMOVAL_DELAY_MS,
  MAX_REMOVAL_DELAY_MS,
  kubernetesDiscoverySettingsSchema,
  kubernetesDiscoveryBlockSchema,
  machineConfigViewSchema,
  kubePrismSettingsSchema,
  clusterEndpointSchema,
  endpointSchema,
  portSchema,
  v1alpha1ReadSchema,
  kubeClusterConfigSchema,
  kubeAPIServerConfigSchema,
  type MachineConfigView,
  type MachineType,
  type KubePrismSettings,
  type ClusterEndpoint,
  type KubernetesDiscoverySettings,
} from './schemas.js';
export {
  KUBERNETES_DISCOVERY_KEY,
  ADOPT_KUBECONFIGS_KEY,
  v1alpha1KubePrismSchema,
  kubePrismConfigDocumentSchema,
  type ParseContext,
} from './kubeprism-settings.js';
export { parseListenAddress, adoptionNameProblem, type Adoption, type ListenAddress } from './node-settings.js';
export { readSettings, settingLeaves, type SettingsPlace, type SettingLeaf } from './setting-forms.js';
export { editDistance, closestWord } from './suggest.js';
