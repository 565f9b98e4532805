import { writeFile } from 'node:fs/promises';
import path from 'node:path';

/** What a test kubeconfig holds: inline data or file paths, a token or a client certificate. */
export interface TestKubeconfig {
  server?: string;
  /** PEM of the CA: written inline (base64 data) unless `caFile` is given. */
  ca?: string;
  caFile?: string;
  tlsServerName?: string;
  token?: string;
  certFile?: string;
  keyFile?: string;
  /** Extra user fields (e.g. `exec`), for refusal tests. */
  user?: Record<string, unknown>;
}

/** Writes `kubeconfig` into `dir` in the shape kubectl and the kubelet use; returns its path. */
export async function writeKubeconfig(dir: string, k: TestKubeconfig, name = 'kubeconfig'): Promise<string> {
  const cluster: Record<string, unknown> = { server: k.server ?? 'https://127.0.0.1:6443' };
  if (k.caFile !== undefined) cluster['certificate-authority'] = k.caFile;
  else if (k.ca !== undefined) cluster['certificate-authority-data'] = Buffer.from(k.ca).toString('base64');
  if (k.tlsServerName !== undefined) cluster['tls-server-name'] = k.tlsServerName;
  const user: Record<string, unknown> = { ...k.user };
  if (k.token !== undefined) user.token = k.token;
  if (k.certFile !== undefined) user['client-certificate'] = k.certFile;
  if (k.keyFile !== undefined) user['client-key'] = k.keyFile;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster }],
    users: [{ name: 'node', user }],
    contexts: [{ name: 'node@test', context: { cluster: 'test', user: 'node' } }],
    'current-context': 'node@test',
  };
  const file = path.join(dir, name);
  await writeFile(file, JSON.stringify(doc, null, 2));
  return file;
}
