import path from 'node:path';
import { stringify } from 'yaml';
import { KUBELET_ID, KubeletConfigType, StaticPodConfigType, type ComponentConfig } from '../resources/index.js';
import { inputOf, kindOf, reconcileController, type Controller, type Resource } from '../runtime/index.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { chooseServer, clusterEndpointURL, serverChoiceInputs } from './api-server-url.js';
import { machineConfigInput, readMachineConfig } from './machine-config-view.js';

/** Where the credentials the kubeconfigs point at live; the agent only refers to them by path. */
export interface KubeconfigFilesOptions {
  readonly outputDir: string;
  /** Directory of `ca.crt` and `<component>.crt` / `<component>.key` (default `/etc/kubernetes/pki`). */
  readonly pkiDir?: string;
  /** The kubelet's rotating client certificate+key (default `/var/lib/kubelet/pki/kubelet-client-current.pem`). */
  readonly kubeletClientPem?: string;
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
export function renderKubeconfig(
  clusterName: string,
  user: string,
  config: ComponentConfig,
  credentials: { ca: string; cert: string; key: string },
): string {
  return kubeconfigDocument(
    { name: clusterName, server: config.server, tlsServerName: config.tlsServerName, ca: credentials.ca },
    { name: user, credentials: { 'client-certificate': credentials.cert, 'client-key': credentials.key } },
    `${user}@${clusterName}`,
  );
}

/** Renders kube-proxy's `kube-system/kubeconfig-in-cluster` ConfigMap, as Talos ships it. */
export function renderKubeProxyConfigMap(server: string, tlsServerName: string | undefined): string {
  const kubeconfig = kubeconfigDocument(
    { name: 'local', server, tlsServerName, ca: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt' },
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
 * Writes the kubeconfig files of kubelet, kube-scheduler, kube-controller-manager and kube-proxy under
 * the output directory, atomically and only when their content changes. Produces no resources.
 */
export function kubeconfigFilesController(options: KubeconfigFilesOptions): Controller {
  const pki = options.pkiDir ?? '/etc/kubernetes/pki';
  const kubeletPem = options.kubeletClientPem ?? '/var/lib/kubelet/pki/kubelet-client-current.pem';
  // kube-proxy has no resource of its own; remember its server here so it sticks to KubePrism like the others.
  let kubeProxyServer: string | undefined;
  return reconcileController({
    name: 'KubeconfigFilesController',
    inputs: [inputOf(KubeletConfigType), inputOf(StaticPodConfigType), machineConfigInput(), ...serverChoiceInputs()],
    outputs: [],
    async reconcile(ctx) {
      const view = await readMachineConfig(ctx);
      if (!view) return;
      const clusterName = view.clusterName ?? 'kubernetes';
      const components: Array<Resource<ComponentConfig>> = [
        ...(await ctx.list(kindOf(KubeletConfigType))),
        ...(await ctx.list(kindOf(StaticPodConfigType))),
      ];
      for (const component of components) {
        const name = component.metadata.id;
        const credentials =
          name === KUBELET_ID
            ? { ca: path.join(pki, 'ca.crt'), cert: kubeletPem, key: kubeletPem }
            : { ca: path.join(pki, 'ca.crt'), cert: path.join(pki, `${name}.crt`), key: path.join(pki, `${name}.key`) };
        const content = renderKubeconfig(clusterName, `system:${name}`, component.spec, credentials);
        if (await writeFileAtomic(component.spec.kubeconfigPath, content)) {
          ctx.logger.info({ file: component.spec.kubeconfigPath, server: component.spec.server }, 'kubeconfig written');
        }
      }
      const proxy = await chooseServer(ctx, clusterEndpointURL(view), kubeProxyServer);
      kubeProxyServer = proxy.server;
      const manifest = path.join(options.outputDir, 'kube-proxy', 'kubeconfig-in-cluster.yaml');
      if (await writeFileAtomic(manifest, renderKubeProxyConfigMap(proxy.server, proxy.tlsServerName), 0o644)) {
        ctx.logger.info({ file: manifest, server: proxy.server }, 'kube-proxy kubeconfig-in-cluster manifest written');
      }
    },
  });
}
