import { execFile } from 'node:child_process';
import { chown, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { interval } from 'rxjs';
import { parseDocument, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateForIps } from '../harness/certs.js';
import { v1alpha1Config } from '../harness/configs.js';
import { eventually, fileChanges } from '../harness/eventually.js';
import { FakeApiServer } from '../harness/fake-apiserver.js';
import { freePort } from '../harness/ports.js';
import { assertBuilt, kubeprism, Spawned } from './process.js';

// The node's own kubeconfig, adopted by the built agent and used by the real kubectl (a Go client, as
// the kubelet is): an API server whose certificate names only 127.0.0.50 (a stand-in for a non-loopback
// address), reached through KubePrism on 127.0.0.1 with verification on, thanks to tls-server-name.

const API_HOST = '127.0.0.50';
const FIRST_TOKEN = 'first-token-3f9a';
const SECOND_TOKEN = 'second-token-7c21';

let dir: string;
let server: FakeApiServer;
let agent: Spawned;
let caPem: string;
let socket: string;
let kubePrismPort: number;
let kubeletSource: string;
let agentSource: string;
let outputDir: string;

/** A kubeconfig as kubeadm writes one: embedded CA, a token, a comment, the server on a non-loopback address. */
function sourceKubeconfig(token: string): string {
  return `# kubelet.conf (test): credentials embedded\n${stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'kubernetes',
        cluster: { 'certificate-authority-data': Buffer.from(caPem).toString('base64'), server: `https://${API_HOST}:${server.port}` },
      },
    ],
    contexts: [{ name: 'system:node:n1@kubernetes', context: { cluster: 'kubernetes', user: 'system:node:n1' } }],
    'current-context': 'system:node:n1@kubernetes',
    users: [{ name: 'system:node:n1', user: { token } }],
  })}`;
}

/** `kubectl get --raw /version` with a kubeconfig: its answer, or its error. */
async function kubectlVersion(kubeconfig: string): Promise<{ ok: true; name: string } | { ok: false; stderr: string }> {
  try {
    const { stdout } = await promisify(execFile)('kubectl', ['--kubeconfig', kubeconfig, 'get', '--raw', '/version'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
      timeout: 30_000,
    });
    return { ok: true, name: (JSON.parse(stdout) as { name: string }).name };
  } catch (err) {
    return { ok: false, stderr: String((err as { stderr?: string }).stderr ?? err) };
  }
}

const kubeletOut = (): string => path.join(outputDir, 'kubelet', 'kubeconfig');

beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-kubectl-'));
  const authority = await certificateForIps([API_HOST]);
  caPem = authority.ca;
  server = await FakeApiServer.start({
    name: 'api-behind-kubeprism',
    host: API_HOST,
    certificate: authority.server,
    bearerToken: FIRST_TOKEN,
  });
  await mkdir(path.join(dir, 'etc'));
  kubeletSource = path.join(dir, 'etc', 'kubelet.conf');
  agentSource = path.join(dir, 'etc', 'cni-agent.kubeconfig');
  await writeFile(kubeletSource, sourceKubeconfig(FIRST_TOKEN), { mode: 0o640 });
  await writeFile(agentSource, sourceKubeconfig(FIRST_TOKEN), { mode: 0o600 });
  // Where the agent may, the copy gets the source's owner too.
  if (process.getuid?.() === 0) await chown(kubeletSource, 65534, 65534);

  kubePrismPort = await freePort();
  const config = path.join(dir, 'config.yaml');
  await writeFile(
    config,
    v1alpha1Config({
      machineType: 'worker',
      endpoint: `https://${API_HOST}:${server.port}`,
      kubePrism: {
        enabled: true,
        port: kubePrismPort,
        healthCheck: { mode: 'tls', interval: '1s', timeout: '500ms' },
        adoptKubeconfigs: [{ name: 'cni-agent', path: agentSource }],
      },
    }),
  );
  socket = path.join(dir, 'api.sock');
  outputDir = path.join(dir, 'state', 'kubeconfigs');
  await mkdir(outputDir, { recursive: true });
  agent = new Spawned([
    'run',
    '--config',
    config,
    '--api',
    `unix:${socket}`,
    '--state-dir',
    path.join(dir, 'state'),
    '--adopt-kubeconfig',
    `kubelet=${kubeletSource}`,
    '--log-format',
    'json',
  ]);
  await agent.waitForLog('kubeprism running');
}, 60_000);

afterAll(async () => {
  await agent?.kill();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('adopting a kubeconfig, used by the real kubectl', () => {
  it('kubectl takes the original kubeconfig directly (the certificate names only 127.0.0.50)', async () => {
    expect(await kubectlVersion(kubeletSource)).toEqual({ ok: true, name: 'api-behind-kubeprism' });
  });

  it('the adopted copy goes through KubePrism on 127.0.0.1 with verification on', async () => {
    const copy = await eventually(
      fileChanges(outputDir),
      async () => {
        const doc = parseDocument(await readFile(kubeletOut(), 'utf8')).toJS() as { clusters: Array<{ cluster: Record<string, unknown> }> };
        expect(doc.clusters[0]?.cluster).toMatchObject({ server: `https://127.0.0.1:${kubePrismPort}`, 'tls-server-name': API_HOST });
        return doc;
      },
      20_000,
    );
    expect(copy.clusters[0]?.cluster['insecure-skip-tls-verify']).toBeUndefined();
    const before = server.totalConnections;
    expect(await kubectlVersion(kubeletOut())).toEqual({ ok: true, name: 'api-behind-kubeprism' });
    expect(server.totalConnections).toBeGreaterThan(before);
    // The comment and the embedded credentials are the source's.
    const text = await readFile(kubeletOut(), 'utf8');
    expect(text).toContain('# kubelet.conf (test): credentials embedded');
    expect(text).toContain(FIRST_TOKEN);
  });

  it('fails without the added tls-server-name (the certificate is not valid for 127.0.0.1)', async () => {
    const doc = parseDocument(await readFile(kubeletOut(), 'utf8'));
    doc.deleteIn(['clusters', 0, 'cluster', 'tls-server-name']);
    const without = path.join(dir, 'without-tls-server-name.conf');
    await writeFile(without, doc.toString(), { mode: 0o600 });
    const result = await kubectlVersion(without);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.stderr).toMatch(/x509: certificate is valid for 127\.0\.0\.50, not 127\.0\.0\.1/u);
  });

  it('keeps the permissions of the source (and its owner where it may)', async () => {
    const info = await stat(kubeletOut());
    expect(info.mode & 0o777).toBe(0o640);
    if (process.getuid?.() === 0) expect([info.uid, info.gid]).toEqual([65534, 65534]);
    expect((await stat(path.join(outputDir, 'cni-agent', 'kubeconfig'))).mode & 0o777).toBe(0o600);
  });

  it('the config form works the same (adoptKubeconfigs)', async () => {
    const copy = path.join(outputDir, 'cni-agent', 'kubeconfig');
    await eventually(
      fileChanges(outputDir),
      async () => expect(await readFile(copy, 'utf8')).toContain(`https://127.0.0.1:${kubePrismPort}`),
      20_000,
    );
    expect(await kubectlVersion(copy)).toEqual({ ok: true, name: 'api-behind-kubeprism' });
  });

  it('follows a rotation: the source rewritten with a new token, the copy follows and works', async () => {
    const temporary = path.join(dir, 'etc', '.kubelet.conf.new');
    await writeFile(temporary, sourceKubeconfig(SECOND_TOKEN), { mode: 0o640 });
    if (process.getuid?.() === 0) await chown(temporary, 65534, 65534);
    await rename(temporary, kubeletSource);
    server.bearerToken = SECOND_TOKEN;
    await eventually(fileChanges(outputDir), async () => expect(await readFile(kubeletOut(), 'utf8')).toContain(SECOND_TOKEN), 20_000);
    expect(await kubectlVersion(kubeletOut())).toEqual({ ok: true, name: 'api-behind-kubeprism' });
  });

  it('a broken source: the status says why with a stable code, the copy stays and keeps working', async () => {
    const good = await readFile(kubeletOut(), 'utf8');
    await writeFile(kubeletSource, 'clusters: [ {name: broken\n');
    const status = await eventually(
      interval(100), // the status lives in the agent: asked again until it says so
      async () => {
        const result = await kubeprism(['get', 'aks', 'kubelet', '-o', 'json', '--api', `unix:${socket}`]);
        const spec = (JSON.parse(result.stdout) as { spec: Record<string, unknown> }).spec;
        expect(spec).toMatchObject({ state: 'rejected', source: kubeletSource, error: { code: 'KP_ERR_KUBECONFIG_INVALID' } });
        return spec;
      },
      20_000,
    );
    expect((status.error as { message: string }).message).toMatch(/not YAML/u);
    expect(await readFile(kubeletOut(), 'utf8')).toBe(good);
    expect(await kubectlVersion(kubeletOut())).toEqual({ ok: true, name: 'api-behind-kubeprism' });
  });

  it('never shows a secret: not in the debug API, not in the logs', async () => {
    const dump = await kubeprism(['dump', '-o', 'json', '--api', `unix:${socket}`]);
    expect(dump.code).toBe(0);
    expect(dump.stdout).toContain('AdoptedKubeconfigStatuses');
    for (const secret of [FIRST_TOKEN, SECOND_TOKEN, Buffer.from(caPem).toString('base64').slice(0, 40)]) {
      expect(dump.stdout).not.toContain(secret);
      expect(agent.stdout).not.toContain(secret);
    }
  });

  it('stops on SIGTERM with exit 0', async () => {
    expect(await agent.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
