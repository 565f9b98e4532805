import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdoptedKubeconfigError, readAdoptedKubeconfig, renderAdoptedKubeconfig } from '../../src/controllers/index.js';
import { ADOPTED_KUBECONFIG_CODES } from '../../src/resources/index.js';

// Reading a kubeconfig the node already has, and rewriting only the server its current context uses.
// Compared by meaning (parsed), since the yaml library re-indents on a round trip; comments checked as text.

const TOKEN = 'secret-token-abc123';
const KEY_DATA = Buffer.from('-----BEGIN EC PRIVATE KEY-----\nnot-a-real-key\n-----END EC PRIVATE KEY-----\n').toString('base64');

/** A kubelet.conf-like file: two clusters, the current context on the second, every kind of credential. */
const SOURCE = `# written by kubeadm
apiVersion: v1
kind: Config
clusters:
- name: other
  cluster:
    server: https://other.example:6443
    certificate-authority: relative/other-ca.crt
- name: prod   # the one in use
  cluster:
    certificate-authority-data: ${Buffer.from('CA PEM').toString('base64')}
    server: https://10.0.0.5:6443
    x-unknown-field: kept
contexts:
- name: system:node:n1@prod
  context: {cluster: prod, user: system:node:n1, namespace: default}
- name: other
  context: {cluster: other, user: exec-user}
current-context: system:node:n1@prod
preferences: {}
users:
- name: system:node:n1
  user:
    token: ${TOKEN}
    client-key-data: ${KEY_DATA}
    client-certificate: pki/client.crt
- name: exec-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./bin/credential-helper
      args: ["--flag"]
- name: path-user
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: aws}
    tokenFile: tokens/t
`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-adopt-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function source(text: string, name = 'kubelet.conf'): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

describe('adopted kubeconfig: reading', () => {
  it("finds the current context's cluster, its server, host and own TLS server name", async () => {
    const read = await readAdoptedKubeconfig(await source(SOURCE));
    expect(read).toMatchObject({
      context: 'system:node:n1@prod',
      cluster: 'prod',
      clusterIndex: 1,
      server: 'https://10.0.0.5:6443',
      host: '10.0.0.5',
    });
    expect(read.tlsServerName).toBeUndefined();
    const v6 = await readAdoptedKubeconfig(await source(SOURCE.replace('https://10.0.0.5:6443', 'https://[fd00::5]:6443'), 'v6'));
    expect(v6.host).toBe('fd00::5');
  });

  it.each([
    ['missing', null, ADOPTED_KUBECONFIG_CODES.missing, /no such file/],
    ['not YAML', 'clusters: [\n  - {name: a\n', ADOPTED_KUBECONFIG_CODES.invalid, /not YAML/],
    ['empty', '# nothing\n', ADOPTED_KUBECONFIG_CODES.invalid, /empty file/],
    ['two documents', `${SOURCE}---\n${SOURCE}`, ADOPTED_KUBECONFIG_CODES.invalid, /2 YAML documents/],
    ['a list', '- a\n- b\n', ADOPTED_KUBECONFIG_CODES.invalid, /not a kubeconfig/],
    [
      'no current context',
      SOURCE.replace('current-context: system:node:n1@prod', ''),
      ADOPTED_KUBECONFIG_CODES.noContext,
      /no current-context/,
    ],
    [
      'current context not there',
      SOURCE.replace('current-context: system:node:n1@prod', 'current-context: gone'),
      ADOPTED_KUBECONFIG_CODES.noContext,
      /"gone" names no context/,
    ],
    [
      'cluster not there',
      SOURCE.replace('{cluster: prod,', '{cluster: nope,'),
      ADOPTED_KUBECONFIG_CODES.noCluster,
      /cluster "nope", which the file does not define/,
    ],
    ['no server', SOURCE.replace('server: https://10.0.0.5:6443', ''), ADOPTED_KUBECONFIG_CODES.server, /cluster "prod" has no server/],
    ['http', SOURCE.replace('https://10.0.0.5:6443', 'http://10.0.0.5:8080'), ADOPTED_KUBECONFIG_CODES.server, /not https \(http\)/],
    [
      'a path',
      SOURCE.replace('https://10.0.0.5:6443', 'https://rancher.example/k8s/clusters/c-1'),
      ADOPTED_KUBECONFIG_CODES.server,
      /has a path/,
    ],
    [
      'two clusters of the name',
      SOURCE.replace('- name: other\n  cluster:', '- name: prod\n  cluster:'),
      ADOPTED_KUBECONFIG_CODES.invalid,
      /2 entries named "prod"/,
    ],
  ])('refuses %s with a stable code and a reason, never the content', async (_what, text, code, reason) => {
    const file = text === null ? path.join(dir, 'absent.conf') : await source(text);
    const err = await readAdoptedKubeconfig(file).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AdoptedKubeconfigError);
    expect((err as AdoptedKubeconfigError).code).toBe(code);
    expect((err as Error).message).toMatch(reason);
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).not.toContain(TOKEN);
    expect((err as Error).message).not.toContain(KEY_DATA.slice(0, 20));
  });

  it('refuses a directory and a file it may not read as unreadable', async () => {
    const sub = path.join(dir, 'a-directory');
    await mkdir(sub);
    await expect(readAdoptedKubeconfig(sub)).rejects.toMatchObject({ code: ADOPTED_KUBECONFIG_CODES.unreadable });
    if (process.getuid?.() === 0) return; // root reads anything
    const file = await source(SOURCE, 'private.conf');
    await chmod(file, 0o000);
    await expect(readAdoptedKubeconfig(file)).rejects.toMatchObject({ code: ADOPTED_KUBECONFIG_CODES.unreadable });
  });

  it('a YAML error never quotes the file (which may hold a key)', async () => {
    const file = await source(`users:\n- name: u\n  user:\n    token: ${TOKEN}\n    token: twice\n`);
    const err = (await readAdoptedKubeconfig(file).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/not YAML/);
    expect(err.message).not.toContain(TOKEN);
    expect(err.message.split('\n')).toHaveLength(1);
  });
});

describe('adopted kubeconfig: rewriting', () => {
  it('replaces only the server of the cluster in use and adds tls-server-name; everything else keeps its meaning', async () => {
    const file = await source(SOURCE);
    const out = renderAdoptedKubeconfig(await readAdoptedKubeconfig(file), 'https://127.0.0.1:7445');
    const [before, after] = [parse(SOURCE), parse(out)];
    const expected = structuredClone(before);
    expected.clusters[1].cluster.server = 'https://127.0.0.1:7445';
    expected.clusters[1].cluster['tls-server-name'] = '10.0.0.5';
    // Relative paths mean the same next to the copy only when made absolute (as client-go resolves them).
    expected.clusters[0].cluster['certificate-authority'] = path.join(dir, 'relative/other-ca.crt');
    expected.users[0].user['client-certificate'] = path.join(dir, 'pki/client.crt');
    expected.users[1].user.exec.command = path.join(dir, 'bin/credential-helper');
    expected.users[2].user.tokenFile = path.join(dir, 'tokens/t');
    expect(after).toEqual(expected);
    // A command found on PATH stays a name.
    expect(after.users[2].user.exec.command).toBe('aws');
    // Comments and order survive: it is the same document, edited.
    expect(out).toContain('# written by kubeadm');
    expect(out).toContain('# the one in use');
    expect(out.indexOf('certificate-authority-data')).toBeLessThan(out.indexOf('server: https://127.0.0.1:7445'));
  });

  it("keeps the file's own tls-server-name, and the original server when that is what is chosen", async () => {
    const own = SOURCE.replace('x-unknown-field: kept', 'tls-server-name: api.internal');
    const read = await readAdoptedKubeconfig(await source(own));
    expect(read.tlsServerName).toBe('api.internal');
    const out = parse(renderAdoptedKubeconfig(read, 'https://127.0.0.1:7445', 'ignored.example'));
    expect(out.clusters[1].cluster).toMatchObject({ server: 'https://127.0.0.1:7445', 'tls-server-name': 'api.internal' });
    const original = parse(renderAdoptedKubeconfig(await readAdoptedKubeconfig(await source(SOURCE, 'b')), 'https://10.0.0.5:6443'));
    expect(original.clusters[1].cluster.server).toBe('https://10.0.0.5:6443');
  });

  it('takes a JSON kubeconfig too (kubectl accepts JSON) and keeps it JSON-compatible', async () => {
    const json = JSON.stringify(parse(SOURCE.replace(/relative\/|pki\/|\.\/bin\/|tokens\//gu, '/abs/')));
    const out = renderAdoptedKubeconfig(await readAdoptedKubeconfig(await source(json, 'k.json')), 'https://127.0.0.1:7445');
    const expected = JSON.parse(json) as { clusters: Array<{ cluster: Record<string, string> }> };
    expected.clusters[1]!.cluster.server = 'https://127.0.0.1:7445';
    expected.clusters[1]!.cluster['tls-server-name'] = '10.0.0.5';
    expect(parse(out)).toEqual(expected);
  });
});
