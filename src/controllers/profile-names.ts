// Apart from credential-profiles.ts so the command line can list the profiles without loading controllers.

/** The distributions whose credential layout kubeprism knows (see credential-profiles.ts). */
export const CREDENTIAL_PROFILES = ['talos', 'kubeadm', 'k3s', 'rke2'] as const;

/** A credential layout, by distribution. */
export type CredentialProfile = (typeof CREDENTIAL_PROFILES)[number];
