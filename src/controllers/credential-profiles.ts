import { KUBE_CONTROLLER_MANAGER_ID, KUBE_SCHEDULER_ID, KUBELET_ID } from '../resources/index.js';
import { KubeprismError } from '../runtime/index.js';
import type { KubeconfigCredentials } from './kubeconfig-files.js';
import { CREDENTIAL_PROFILES, type CredentialProfile } from './profile-names.js';

// Where each distribution keeps the credentials of the kubeconfigs kubeprism generates (kubelet,
// kube-scheduler, kube-controller-manager). Sources, read in each project's code:
// - kubeadm (cmd/kubeadm/app/phases/kubeconfig): the cluster CA is /etc/kubernetes/pki/ca.crt; after TLS
//   bootstrap kubelet.conf names /var/lib/kubelet/pki/kubelet-client-current.pem (certificate and key in
//   one file, rotated by the kubelet). scheduler.conf and controller-manager.conf embed their client
//   certificate and key (client-certificate-data): there are no files to name, so adopt those kubeconfigs.
// - k3s (pkg/agent/config/config.go, pkg/daemons/control/deps/deps.go): agent files under
//   /var/lib/rancher/k3s/agent (server-ca.crt, client-kubelet.crt, client-kubelet.key); server files under
//   /var/lib/rancher/k3s/server/tls (server-ca.crt, client-scheduler.crt|key, client-controller.crt|key).
// - RKE2 runs the same code with the program name rke2: the same files under /var/lib/rancher/rke2.
// - talos: kubeprism's historical layout: /etc/kubernetes/pki/{ca,<component>}.crt|key and the kubelet's
//   rotating PEM.

export { CREDENTIAL_PROFILES, type CredentialProfile };

/** Files a profile names for one component; a missing cert and key means the distribution has no such files. */
interface ComponentFiles {
  ca: string;
  cert?: string;
  key?: string;
}

type ProfileLayout = Record<typeof KUBELET_ID | typeof KUBE_SCHEDULER_ID | typeof KUBE_CONTROLLER_MANAGER_ID, ComponentFiles>;

const KUBELET_PEM = '/var/lib/kubelet/pki/kubelet-client-current.pem';

function rancher(program: 'k3s' | 'rke2'): ProfileLayout {
  const agent = `/var/lib/rancher/${program}/agent`;
  const tls = `/var/lib/rancher/${program}/server/tls`;
  return {
    kubelet: { ca: `${agent}/server-ca.crt`, cert: `${agent}/client-kubelet.crt`, key: `${agent}/client-kubelet.key` },
    'kube-scheduler': { ca: `${tls}/server-ca.crt`, cert: `${tls}/client-scheduler.crt`, key: `${tls}/client-scheduler.key` },
    'kube-controller-manager': { ca: `${tls}/server-ca.crt`, cert: `${tls}/client-controller.crt`, key: `${tls}/client-controller.key` },
  };
}

const LAYOUTS: Record<CredentialProfile, ProfileLayout> = {
  talos: {
    kubelet: { ca: '/etc/kubernetes/pki/ca.crt', cert: KUBELET_PEM, key: KUBELET_PEM },
    'kube-scheduler': {
      ca: '/etc/kubernetes/pki/ca.crt',
      cert: '/etc/kubernetes/pki/kube-scheduler.crt',
      key: '/etc/kubernetes/pki/kube-scheduler.key',
    },
    'kube-controller-manager': {
      ca: '/etc/kubernetes/pki/ca.crt',
      cert: '/etc/kubernetes/pki/kube-controller-manager.crt',
      key: '/etc/kubernetes/pki/kube-controller-manager.key',
    },
  },
  kubeadm: {
    kubelet: { ca: '/etc/kubernetes/pki/ca.crt', cert: KUBELET_PEM, key: KUBELET_PEM },
    'kube-scheduler': { ca: '/etc/kubernetes/pki/ca.crt' },
    'kube-controller-manager': { ca: '/etc/kubernetes/pki/ca.crt' },
  },
  k3s: rancher('k3s'),
  rke2: rancher('rke2'),
};

/** What the kubeconfig of each component should adopt instead, where a profile has no credential files. */
const ADOPT_INSTEAD: Partial<Record<CredentialProfile, Partial<Record<keyof ProfileLayout, string>>>> = {
  kubeadm: { 'kube-scheduler': '/etc/kubernetes/scheduler.conf', 'kube-controller-manager': '/etc/kubernetes/controller-manager.conf' },
};

/** Paths given on the command line, each replacing the profile's. */
export interface CredentialOverrides {
  /** The cluster CA, for every generated kubeconfig (`--ca-file`). */
  readonly ca?: string;
  readonly kubeletCert?: string;
  readonly kubeletKey?: string;
  readonly schedulerCert?: string;
  readonly schedulerKey?: string;
  readonly controllerManagerCert?: string;
  readonly controllerManagerKey?: string;
}

/** A profile and its overrides do not add up (a certificate without its key where the profile has neither). */
export class CredentialProfileError extends KubeprismError {
  constructor(message: string) {
    super('KP_ERR_CREDENTIAL_PROFILE', message);
  }
}

/** The credential files of each generated kubeconfig, and what to say for a component that has none. */
export interface ResolvedCredentials {
  /** Files for a component; undefined when the distribution keeps its credentials only inside its own kubeconfig. */
  readonly credentials: (component: string) => KubeconfigCredentials | undefined;
  /** Why a component has no credential files, and what to do (adopt its kubeconfig, or give the flags). */
  readonly missing: (component: string) => string;
}

/** The credential files of `profile`, with `overrides` replacing single paths. Throws CredentialProfileError. */
export function resolveCredentials(profile: CredentialProfile, overrides: CredentialOverrides = {}): ResolvedCredentials {
  const layout = LAYOUTS[profile];
  const flags = {
    kubelet: ['--kubelet-client-cert', '--kubelet-client-key', overrides.kubeletCert, overrides.kubeletKey],
    'kube-scheduler': ['--scheduler-client-cert', '--scheduler-client-key', overrides.schedulerCert, overrides.schedulerKey],
    'kube-controller-manager': [
      '--controller-manager-client-cert',
      '--controller-manager-client-key',
      overrides.controllerManagerCert,
      overrides.controllerManagerKey,
    ],
  } as const;
  const resolved = new Map<string, KubeconfigCredentials | undefined>();
  for (const [component, [certFlag, keyFlag, certOverride, keyOverride]] of Object.entries(flags)) {
    const files = layout[component as keyof ProfileLayout];
    const cert = certOverride ?? files.cert;
    const key = keyOverride ?? files.key;
    if ((cert === undefined) !== (key === undefined)) {
      throw new CredentialProfileError(
        `${cert === undefined ? certFlag : keyFlag} is needed with ${cert === undefined ? keyFlag : certFlag}: ` +
          `the ${profile} profile has no ${component} client certificate files`,
      );
    }
    resolved.set(component, cert !== undefined && key !== undefined ? { ca: overrides.ca ?? files.ca, cert, key } : undefined);
  }
  return {
    credentials: (component) => resolved.get(component),
    missing: (component) => {
      const adopt = ADOPT_INSTEAD[profile]?.[component as keyof ProfileLayout];
      const flagPair = flags[component as keyof typeof flags];
      const give = flagPair ? ` or give ${flagPair[0]} and ${flagPair[1]}` : '';
      return adopt !== undefined
        ? `the ${profile} profile keeps ${component}'s credentials inside ${adopt}: adopt it (--adopt-kubeconfig ${component}=${adopt})${give}`
        : `the ${profile} profile has no credential files for ${component}${give}`;
    },
  };
}
