import path from 'node:path';
import { adoptionNameProblem, type Adoption } from '../config/index.js';
import { resolveCredentials, type CredentialOverrides, type CredentialProfile, type ResolvedCredentials } from '../controllers/index.js';
import { KubeprismError } from '../runtime/index.js';
import { UsageError } from './io.js';

// The flags of `kubeprism run` that need more than commander checks: loaded only to run the agent.

/**
 * `--adopt-kubeconfig NAME=PATH`, each as given: a name that can be a directory, a path (made absolute
 * against the working directory), every name once. Throws UsageError naming the flag at fault.
 */
export function parseAdoptFlags(values: readonly string[]): Adoption[] {
  const adoptions: Adoption[] = [];
  for (const value of values) {
    const equals = value.indexOf('=');
    const name = equals === -1 ? '' : value.slice(0, equals);
    const file = equals === -1 ? '' : value.slice(equals + 1);
    if (name === '' || file === '') {
      throw new UsageError(`--adopt-kubeconfig ${value}: want NAME=PATH, e.g. kubelet=/etc/kubernetes/kubelet.conf`);
    }
    const problem = adoptionNameProblem(name);
    if (problem !== undefined) throw new UsageError(`--adopt-kubeconfig ${value}: the name ${problem}`);
    const first = adoptions.find((a) => a.name === name);
    if (first !== undefined) {
      throw new UsageError(`--adopt-kubeconfig ${name} is given twice (${name}=${first.path} and ${value}); adopt each name once`);
    }
    adoptions.push({ name, path: path.resolve(file) });
  }
  return adoptions;
}

/** The credential flags of `kubeprism run`, as commander hands them over. */
export interface CredentialFlags {
  readonly profile: CredentialProfile;
  readonly caFile?: string;
  readonly kubeletClientCert?: string;
  readonly kubeletClientKey?: string;
  readonly schedulerClientCert?: string;
  readonly schedulerClientKey?: string;
  readonly controllerManagerClientCert?: string;
  readonly controllerManagerClientKey?: string;
}

/** The profile with the flags' paths (made absolute) in place of its own; UsageError when they do not add up. */
export function credentialsFromFlags(flags: CredentialFlags): ResolvedCredentials {
  const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : path.resolve(p));
  const overrides: CredentialOverrides = Object.fromEntries(
    Object.entries({
      ca: abs(flags.caFile),
      kubeletCert: abs(flags.kubeletClientCert),
      kubeletKey: abs(flags.kubeletClientKey),
      schedulerCert: abs(flags.schedulerClientCert),
      schedulerKey: abs(flags.schedulerClientKey),
      controllerManagerCert: abs(flags.controllerManagerClientCert),
      controllerManagerKey: abs(flags.controllerManagerClientKey),
    }).filter(([, v]) => v !== undefined),
  );
  try {
    return resolveCredentials(flags.profile, overrides);
  } catch (err) {
    if (err instanceof KubeprismError) throw new UsageError(err.message);
    throw err;
  }
}
