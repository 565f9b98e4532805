import { documentLabel, sortDocuments, type FoundDocument } from './documents.js';
import { joinPath, toInvalidConfigError, type IssueContext, type RawIssue } from './issues.js';
import { resolveKubernetesDiscovery } from './kubernetes-discovery.js';
import { resolveKubePrism, type KubePrismSource, type ParseContext } from './kubeprism-settings.js';
import { isPlainObject, readWith } from './read.js';
import {
  DEFAULT_LOCAL_API_SERVER_PORT,
  kubeAPIServerConfigSchema,
  kubeClusterConfigSchema,
  v1alpha1ReadSchema,
  type ClusterEndpoint,
  type MachineConfigView,
} from './schemas.js';
import { readYamlDocuments } from './yaml-documents.js';

/** A parsed machine config: every document as plain data, untouched and in order, plus what kubeprism reads. */
export interface MachineConfig {
  documents: unknown[];
  view: MachineConfigView;
}

/**
 * Parses Talos machine-config YAML (one or more `---`-separated documents, v1alpha1 and/or Talos 1.15
 * kinds). Throws `InvalidConfigError` listing every problem; see `toInvalidConfigError` for the path scheme.
 * `context` says what the running agent was told on its command line (a config may not contradict it).
 */
export function parseMachineConfig(text: string, context: ParseContext = {}): MachineConfig {
  const read = readYamlDocuments(text);
  const ctx = issueContext(read.documents, read.locate);
  if (read.issues.length > 0) throw toInvalidConfigError(read.issues, ctx);
  if (read.documents.length === 0) {
    // Comments and blank lines only count as empty too: there is nothing to run on.
    throw toInvalidConfigError([{ path: '', message: `empty file: ${EXPECTED}` }], ctx);
  }
  const { view, issues } = evaluate(read.documents, context);
  if (view === undefined) throw toInvalidConfigError(issues, ctx);
  return { documents: read.documents, view };
}

/** Reads machine-config YAML into plain documents without judging them (e.g. a lone KubePrismConfig patch). */
export function parseMachineConfigDocuments(text: string): unknown[] {
  const read = readYamlDocuments(text);
  if (read.issues.length > 0) throw toInvalidConfigError(read.issues, issueContext(read.documents, read.locate));
  return read.documents;
}

/** Validates already-parsed documents (e.g. the stored ones) and returns what kubeprism reads from them. */
export function machineConfigView(documents: readonly unknown[], context: ParseContext = {}): MachineConfigView {
  const { view, issues } = evaluate(documents, context);
  if (view === undefined) throw toInvalidConfigError(issues, issueContext(documents));
  return view;
}

/** How issues in `documents` are labelled (by kind) and placed (by `locate`, when the text is known). */
function issueContext(documents: readonly unknown[], locate?: IssueContext['locate']): IssueContext {
  return { documentCount: documents.length, label: (i) => documentLabel(documents[i]), ...(locate ? { locate } : {}) };
}

/** Where the v1alpha1 document keeps KubePrism settings. */
const V1_KUBEPRISM = 'machine.features.kubePrism';

const EXPECTED = 'expected a Talos machine config (version: v1alpha1)';
const NO_V1ALPHA1 = 'no v1alpha1 document: a machine config needs one ("version: v1alpha1") with machine.type';
const NO_ENDPOINT = 'no cluster endpoint: set cluster.controlPlane.endpoint or a KubeClusterConfig document';
const ENDPOINT_REQUIRED = 'required: the https URL of the cluster API endpoint';

/** A place a value can be written: a document (if the config has one of that kind) and a dotted path in it. */
interface Place {
  doc: FoundDocument | undefined;
  path: string;
}

function written(place: Place): place is { doc: FoundDocument; path: string } {
  return place.doc !== undefined && getPath(place.doc.value, place.path) !== undefined;
}

function evaluate(documents: readonly unknown[], context: ParseContext): { view?: MachineConfigView; issues: RawIssue[] } {
  const issues: RawIssue[] = [];
  if (documents.length === 0) {
    return { issues: [{ path: '', message: `no documents: ${EXPECTED}` }] };
  }

  const { v1alpha1: v1, kinds, unrecognised } = sortDocuments(documents, issues);
  // When a document could not even be recognised, "no v1alpha1 document" and the like would only be noise.
  const cascade = unrecognised === 0;
  const { KubeClusterConfig: kcc, KubeAPIServerConfig: kapi, KubePrismConfig: kpc } = kinds;
  const v1Data = v1 && readWith(v1alpha1ReadSchema, v1.value, issues, { document: v1.index });
  const kccData = kcc && readWith(kubeClusterConfigSchema, kcc.value, issues, { document: kcc.index });
  const kapiData = kapi && readWith(kubeAPIServerConfigSchema, kapi.value, issues, { document: kapi.index });

  // Presence is judged on the raw documents, so a missing field is reported even when a sibling is invalid.
  if (v1 === undefined) {
    if (cascade) issues.push({ path: '', message: NO_V1ALPHA1 });
  } else if (!written({ doc: v1, path: 'machine.type' })) {
    issues.push({ document: v1.index, path: 'machine.type', message: 'required (controlplane or worker)' });
  }
  const machineType = v1Data?.machine?.type;

  // Each value may come from the v1alpha1 document or its Talos 1.15 document, not both.
  const place = (doc: FoundDocument | undefined, path: string): Place => ({ doc, path });
  const endpointAt = onlyOnce(place(v1, 'cluster.controlPlane.endpoint'), place(kcc, 'endpoint'), issues);
  onlyOnce(place(v1, 'cluster.clusterName'), place(kcc, 'clusterName'), issues);
  const apiPortAt = onlyOnce(place(v1, 'cluster.controlPlane.localAPIServerPort'), place(kapi, 'apiPort'), issues);
  const kubePrismAt = onlyOnce(place(v1, V1_KUBEPRISM), place(kpc, ''), issues);

  if (!written(endpointAt) && (cascade || endpointAt.doc !== undefined)) {
    issues.push(
      endpointAt.doc === undefined
        ? { path: '', message: NO_ENDPOINT }
        : { document: endpointAt.doc.index, path: endpointAt.path, message: ENDPOINT_REQUIRED },
    );
  }
  const clusterEndpoint: ClusterEndpoint | undefined = kccData?.endpoint ?? v1Data?.cluster?.controlPlane?.endpoint;
  const clusterName = kccData?.clusterName ?? v1Data?.cluster?.clusterName;
  const localAPIServerPort = kapiData?.apiPort ?? v1Data?.cluster?.controlPlane?.localAPIServerPort ?? DEFAULT_LOCAL_API_SERVER_PORT;

  const kubePrismSource: KubePrismSource | undefined = written(kubePrismAt)
    ? {
        document: kubePrismAt.doc.index,
        base: kubePrismAt.path,
        value: getPath(kubePrismAt.doc.value, kubePrismAt.path),
        isDocument: kubePrismAt.doc === kpc,
      }
    : undefined;
  const block = resolveKubePrism(kubePrismSource, issues, context);
  const kubePrism = block?.kubePrism;
  const kubernetesDiscovery = block && resolveKubernetesDiscovery(v1Data?.cluster?.discovery, block.kubernetesDiscovery);

  // On a control-plane node the API server already listens on its port (loopback included).
  if (kubePrism?.enabled && machineType === 'controlplane' && kubePrism.port === localAPIServerPort) {
    const portAt = { doc: kubePrismAt.doc, path: joinPath(kubePrismAt.path, 'port') };
    const at = written(portAt) ? portAt : apiPortAt;
    issues.push({
      document: at.doc?.index,
      path: at.path,
      message: `KubePrism and the local API server cannot share port ${localAPIServerPort} on a control-plane node`,
    });
  }

  if (issues.length > 0 || machineType === undefined || clusterEndpoint === undefined || kubePrism === undefined) {
    return { issues };
  }
  const view: MachineConfigView = { machineType, clusterEndpoint, localAPIServerPort, kubePrism };
  if (clusterName !== undefined && clusterName !== '') view.clusterName = clusterName;
  if (kubernetesDiscovery !== undefined) view.kubernetesDiscovery = kubernetesDiscovery;
  if (block?.adoptKubeconfigs.length) view.adoptKubeconfigs = block.adoptKubeconfigs;
  if (block?.metricsAddress !== undefined) view.metricsAddress = block.metricsAddress;
  return { view, issues };
}

/**
 * A value settable in the v1alpha1 document (`classic`) or in a Talos 1.15 document (`modern`): reports
 * it when both are written, and returns where to read (or, when neither is written, where it belongs).
 */
function onlyOnce(classic: Place, modern: Place, issues: RawIssue[]): Place {
  if (written(classic) && written(modern)) {
    const other = `document ${modern.doc.index + 1}`;
    const label = documentLabel(modern.doc.value);
    issues.push({
      document: classic.doc.index,
      path: classic.path,
      message:
        modern.path === ''
          ? `KubePrism is also configured by the ${label} document (${other}); configure it in one place only`
          : `also set as ${modern.path} in ${other} (${label}); set it in one place only`,
    });
  }
  if (written(modern)) return modern;
  if (written(classic)) return classic;
  return modern.doc !== undefined ? modern : classic;
}

/** The value at a dotted path (`""` is the whole value), or undefined when any step is missing. */
function getPath(value: unknown, path: string): unknown {
  let cur = value;
  for (const key of path === '' ? [] : path.split('.')) {
    if (!isPlainObject(cur) || !Object.hasOwn(cur, key)) return undefined;
    cur = cur[key];
  }
  return cur;
}
