/** Builders for small machine configs used across tests (realistic shape, only the fields that matter). */

/** Options of {@link v1alpha1Config}. */
export interface ConfigOptions {
  machineType?: 'controlplane' | 'worker' | 'init';
  endpoint?: string;
  localAPIServerPort?: number;
  clusterName?: string;
  /** `undefined` says nothing about KubePrism (defaults apply). */
  kubePrism?: Record<string, unknown>;
  /** `cluster.discovery` as written (Talos's switch for the kubernetes registry). */
  discovery?: Record<string, unknown>;
}

/** A v1alpha1 machine config document as YAML (JSON is valid YAML, and keeps the builder simple). */
export function v1alpha1Config(options: ConfigOptions = {}): string {
  const features = options.kubePrism === undefined ? {} : { kubePrism: options.kubePrism };
  const doc = {
    version: 'v1alpha1',
    debug: false,
    machine: {
      type: options.machineType ?? 'controlplane',
      token: 'q0n8zd.x7dzz3amm8ffhbhm',
      ca: { crt: 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==', key: 'LS0tLS1CRUdJTiBFRDI1NTE5IFBSSVZBVEUgS0VZLS0tLS0K' },
      features,
    },
    cluster: {
      clusterName: options.clusterName ?? 'test-cluster',
      controlPlane: {
        endpoint: options.endpoint ?? 'https://cp.example.com:6443',
        ...(options.localAPIServerPort !== undefined ? { localAPIServerPort: options.localAPIServerPort } : {}),
      },
      secretboxEncryptionSecret: 'z01mye6j16bspJYtTB/5SFX8j7Ahm2r5xvDxkMJh6Sw=',
      ...(options.discovery !== undefined ? { discovery: options.discovery } : {}),
    },
  };
  return JSON.stringify(doc, null, 2);
}
