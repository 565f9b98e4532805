import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DISCOVERY_CODES, DiscoveryError, loadKubeconfig } from '../../src/discovery/index.js';
import { writeKubeconfig } from '../harness/kubeconfig.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-kubeconfig-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function refusal(file: string): Promise<string> {
  const err = await loadKubeconfig(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DiscoveryError);
  expect((err as DiscoveryError).code).toBe(DISCOVERY_CODES.credentials);
  return (err as DiscoveryError).message;
}

describe('loadKubeconfig', () => {
  it('reads inline data, a token and tls-server-name from the current context', async () => {
    const file = await writeKubeconfig(dir, { ca: PEM, token: 'abc', tlsServerName: 'api.internal' });
    expect(await loadKubeconfig(file)).toEqual({
      ca: Buffer.from(PEM),
      token: 'abc',
      tlsServerName: 'api.internal',
      insecureSkipTlsVerify: false,
    });
  });

  it('reads files, relative paths against the kubeconfig directory (as kubectl does), and a token file', async () => {
    await mkdir(path.join(dir, 'pki'));
    await Promise.all([
      writeFile(path.join(dir, 'pki', 'ca.crt'), 'CA'),
      writeFile(path.join(dir, 'pki', 'client.crt'), 'CERT'),
      writeFile(path.join(dir, 'client.key'), 'KEY'),
      writeFile(path.join(dir, 'token'), 'from-file\n'),
    ]);
    const withCert = await writeKubeconfig(
      dir,
      { caFile: 'pki/ca.crt', certFile: 'pki/client.crt', keyFile: path.join(dir, 'client.key') },
      'a.conf',
    );
    expect(await loadKubeconfig(withCert)).toEqual({
      ca: Buffer.from('CA'),
      cert: Buffer.from('CERT'),
      key: Buffer.from('KEY'),
      insecureSkipTlsVerify: false,
    });
    const withTokenFile = await writeKubeconfig(dir, { user: { tokenFile: 'token' } }, 'b.conf');
    expect((await loadKubeconfig(withTokenFile)).token).toBe('from-file');
  });

  it('refuses what it cannot use, naming the file and the reason', async () => {
    const missing = path.join(dir, 'nope.conf');
    expect(await refusal(missing)).toMatch(new RegExp(`^kubeconfig ${missing}: cannot read file ${missing}: ENOENT`));
    const cases: Array<[string, Parameters<typeof writeKubeconfig>[1] | string, RegExp]> = [
      [
        'exec plugin',
        { token: 'x', user: { exec: { command: 'aws' } } },
        /user "node": exec is not supported; use a client certificate or a token/,
      ],
      ['no identity', { ca: PEM }, /user "node" has no client certificate and no token/],
      ['cert without key', { certFile: 'c.crt', token: 'x' }, /cannot read client-certificate .*c\.crt/],
      ['not YAML', 'clusters: [', /not YAML/],
      ['no context', 'apiVersion: v1\nkind: Config\nclusters: []\n', /no current-context, and not exactly one context/],
      ['unknown cluster', 'current-context: x\ncontexts: [{name: x, context: {cluster: gone, user: u}}]\n', /no cluster named "gone"/],
    ];
    for (const [name, content, message] of cases) {
      const file = path.join(dir, `${name.replace(/ /g, '-')}.conf`);
      if (typeof content === 'string') await writeFile(file, content);
      else await writeKubeconfig(dir, content, path.basename(file));
      expect([name, await refusal(file)]).toEqual([name, expect.stringMatching(message)]);
    }
    await writeFile(path.join(dir, 'k.key'), 'KEY');
    const keyOnly = await writeKubeconfig(dir, { keyFile: 'k.key', token: 'x' }, 'key-only.conf');
    expect(await refusal(keyOnly)).toMatch(/a client certificate needs its key, and a key its certificate/);
  });
});
