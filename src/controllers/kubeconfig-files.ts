import { rm } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { AdoptedKubeconfigStatusType, AdoptedKubeconfigType, KUBELET_ID, type ComponentConfig } from '../resources/index.js';
import { inputOf, kindOf, ptr, reconcileController, type Controller, type ControllerContext, type Resource } from '../runtime/index.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { AdoptedKubeconfigError, readAdoptedKubeconfig, renderAdoptedKubeconfig } from './adopted-kubeconfig.js';
import { componentTypes, KUBE_COMPONENTS, type KubeComponent } from './kube-components.js';
import { machineConfigInput, readMachineConfig } from './machine-config-view.js';

/** Where the credentials the kubeconfigs point at live; the agent only refers to them by path. */
export interface KubeconfigFilesOptions {
  readonly outputDir: string;
  /** Directory of `ca.crt` and `<component>.crt` / `<component>.key` (default `/etc/kubernetes/pki`). */
  readonly pkiDir?: string;
  /** The kubelet's rotating client certificate+key (default `/var/lib/kubelet/pki/kubelet-client-current.pem`). */
  readonly kubeletClientPem?: string;
  /** The components whose files are written (default: the four the components controller decides for). */
  readonly components?: readonly KubeComponent[];
  /**
   * The credential files a component's kubeconfig names (default: Talos's layout, from `pkiDir` and
   * `kubeletClientPem`; see credential-profiles.ts). Undefined for a component: its distribution has no
   * such files, so nothing is generated for it (adopt its kubeconfig instead) and `missingCredentials` says so.
   */
  readonly credentials?: (component: string) => KubeconfigCredentials | undefined;
  /** What to log for a component without credential files. */
  readonly missingCredentials?: (component: string) => string;
}

/** Credential files a generated kubeconfig refers to. */
export interface KubeconfigCredentials {
  ca: string;
  cert: string;
  key: string;
}

/** Talos's credential layout: `<pkiDir>/<component>.crt|key`, the kubelet's rotating client PEM. */
export function talosCredentials(
  options: Pick<KubeconfigFilesOptions, 'pkiDir' | 'kubeletClientPem'>,
): (component: string) => KubeconfigCredentials {
  const pki = options.pkiDir ?? '/etc/kubernetes/pki';
  const kubeletPem = options.kubeletClientPem ?? '/var/lib/kubelet/pki/kubelet-client-current.pem';
  return (id) =>
    id === KUBELET_ID
      ? { ca: path.join(pki, 'ca.crt'), cert: kubeletPem, key: kubeletPem }
      : { ca: path.join(pki, 'ca.crt'), cert: path.join(pki, `${id}.crt`), key: path.join(pki, `${id}.key`) };
}

/** A kubeconfig with one cluster, one user and the context joining them. */
function kubeconfigDocument(
  cluster: { name: string; server: string; tlsServerName: string | undefined; ca: string },
  user: { name: string; credentials: Record<string, string> },
  context: string,
): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: cluster.name,
        cluster: {
          server: cluster.server,
          ...(cluster.tlsServerName !== undefined ? { 'tls-server-name': cluster.tlsServerName } : {}),
          'certificate-authority': cluster.ca,
        },
      },
    ],
    users: [{ name: user.name, user: user.credentials }],
    contexts: [{ name: context, context: { cluster: cluster.name, user: user.name } }],
    'current-context': context,
  });
}

/** Renders a kubeconfig that names the server and refers to credential files by path. */
export function renderKubeconfig(clusterName: string, user: string, config: ComponentConfig, credentials: KubeconfigCredentials): string {
  return kubeconfigDocument(
    { name: clusterName, server: config.server, tlsServerName: config.tlsServerName, ca: credentials.ca },
    { name: user, credentials: { 'client-certificate': credentials.cert, 'client-key': credentials.key } },
    `${user}@${clusterName}`,
  );
}

/** Renders kube-proxy's `kube-system/kubeconfig-in-cluster` ConfigMap, as Talos ships it. */
export function renderKubeProxyConfigMap(config: ComponentConfig): string {
  const kubeconfig = kubeconfigDocument(
    {
      name: 'local',
      server: config.server,
      tlsServerName: config.tlsServerName,
      ca: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
    },
    { name: 'service-account', credentials: { tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token' } },
    'local',
  );
  return stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'kubeconfig-in-cluster', namespace: 'kube-system' },
    data: { kubeconfig },
  });
}

/**
 * Renders each component's resource (KubeletConfigs, StaticPodConfigs, KubeProxyKubeconfigs,
 * AdoptedKubeconfigs) to its file, atomically and only when the content changes, and removes the file of
 * a component whose resource is gone (kube-scheduler's after the node turns worker). A resource with a
 * `source` is the node's own kubeconfig with only its server (and a missing tls-server-name) changed,
 * written with the source's permissions or stricter; while the source cannot be read, its last copy
 * stays. It decides nothing: the server is the resource's. Produces no resources.
 */
export function kubeconfigFilesController(options: KubeconfigFilesOptions): Controller {
  const components = options.components ?? KUBE_COMPONENTS;
  const credentialsOf = options.credentials ?? talosCredentials(options);
  // The files this writer put in place. In memory: a file is only ever removed once this process has
  // seen its resource, so a fresh start (resources not produced yet) never deletes a working kubeconfig.
  const written = new Set<string>();
  const warned = new Set<string>();
  return reconcileController({
    name: 'KubeconfigFilesController',
    inputs: [
      ...[...componentTypes(components), AdoptedKubeconfigType].map((type) => inputOf(type)),
      // A rotated source changes its status's revision, not the component's resource: re-render then too.
      inputOf(AdoptedKubeconfigStatusType),
      machineConfigInput(),
    ],
    outputs: [],
    async reconcile(ctx) {
      const view = await readMachineConfig(ctx);
      if (!view) return;
      const clusterName = view.clusterName ?? 'kubernetes';
      const wanted = new Set<string>();
      const resources: Array<[string, Resource<ComponentConfig>, KubeComponent['format']]> = [];
      for (const component of components) {
        const resource = await ctx.find(ptr(component.type, component.id));
        if (resource) resources.push([component.id, resource, component.format]);
      }
      for (const resource of await ctx.list(kindOf(AdoptedKubeconfigType))) resources.push([resource.metadata.id, resource, 'kubeconfig']);

      for (const [id, resource, format] of resources) {
        if (resource.metadata.phase === 'tearingDown') continue;
        const { spec } = resource;
        // Wanted even when not written this round: a source that cannot be read keeps its last copy.
        wanted.add(spec.kubeconfigPath);
        let wrote: boolean;
        if (spec.source !== undefined) {
          wrote = await writeAdopted(ctx, spec, spec.source);
        } else if (format === 'in-cluster-configmap') {
          // No secret in it: tokens and the CA are referred to by path.
          wrote = await writeFileAtomic(spec.kubeconfigPath, renderKubeProxyConfigMap(spec), 0o644);
        } else {
          const credentials = credentialsOf(id);
          if (credentials === undefined) {
            if (!warned.has(id)) ctx.logger.warn({ kubeconfig: id }, options.missingCredentials?.(id) ?? `no credential files for ${id}`);
            warned.add(id);
            continue;
          }
          wrote = await writeFileAtomic(spec.kubeconfigPath, renderKubeconfig(clusterName, `system:${id}`, spec, credentials), 0o600);
        }
        written.add(spec.kubeconfigPath);
        if (wrote)
          ctx.logger.info(
            { file: spec.kubeconfigPath, server: spec.server, ...(spec.source ? { source: spec.source } : {}) },
            `${id} kubeconfig written`,
          );
      }
      for (const file of written) {
        if (wanted.has(file)) continue;
        await rm(file, { force: true });
        written.delete(file);
        ctx.logger.info({ file }, 'kubeconfig of a component this node no longer runs removed');
      }
    },
  });
}

/** Writes an adopted kubeconfig's copy; false (the last copy kept) when the source cannot be used now. */
async function writeAdopted(ctx: ControllerContext, spec: ComponentConfig, file: string): Promise<boolean> {
  let source;
  try {
    source = await readAdoptedKubeconfig(file);
  } catch (err) {
    // Its status resource says why, with the code; the copy stays as it was.
    if (!(err instanceof AdoptedKubeconfigError)) throw err;
    ctx.logger.debug({ source: file, code: err.code }, 'adopted kubeconfig unusable; keeping its last copy');
    return false;
  }
  const content = renderAdoptedKubeconfig(source, spec.server, spec.tlsServerName);
  return writeFileAtomic(spec.kubeconfigPath, content, { mode: source.mode, owner: { uid: source.uid, gid: source.gid } });
}
