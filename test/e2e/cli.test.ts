import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { v1alpha1Config } from '../harness/configs.js';
import { FakeApiServer } from '../harness/fake-apiserver.js';
import { freePort, listen, loopback } from '../harness/ports.js';
import { assertBuilt, BIN, kubeprism, Spawned } from './process.js';

// The command line as an operator uses it, through the built binary: the get output forms against a
// running agent, shell pipelines (-o name into xargs, files on standard input), completion, and the
// documented exit codes (0 ok, 1 invalid input or failed check, 2 usage, 3 agent unreachable).

const run = promisify(execFile);

let dir: string;
let agent: Spawned;
let api: string;
let hangUp: TcpServer;
let hangUpAddress: string;
const fakes: FakeApiServer[] = [];

/** Runs a shell pipeline with the built binary on PATH as `kubeprism` (so xargs finds it too); never rejects. */
async function sh(script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, KUBEPRISM_API: api, NO_COLOR: '1', PATH: `${path.join(dir, 'bin')}:${process.env.PATH ?? ''}` };
  try {
    const { stdout, stderr } = await run('sh', ['-c', script], { env, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-e2e-cli-'));
  await mkdir(path.join(dir, 'bin'));
  await writeFile(path.join(dir, 'bin', 'kubeprism'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, { mode: 0o755 });
  fakes.push(await FakeApiServer.start({ name: 'endpoint', host: loopback(21) }));
  fakes.push(await FakeApiServer.start({ name: 'cp-1', host: loopback(22) }));
  // Accepts and hangs up at once: the agent "is there" but never answers.
  hangUp = createTcpServer((socket) => socket.destroy());
  hangUpAddress = `${loopback(23)}:${await listen(hangUp, loopback(23))}`;
  await writeFile(
    path.join(dir, 'config.yaml'),
    v1alpha1Config({
      machineType: 'worker',
      endpoint: `https://${loopback(21)}:${fakes[0]!.port}`,
      kubePrism: { enabled: true, port: await freePort(), healthCheck: { interval: '200ms', timeout: '150ms' } },
    }),
  );
  const members = {
    members: [
      {
        id: 'cp-1',
        hostname: 'cp-1',
        machineType: 'controlplane',
        addresses: [loopback(22)],
        controlPlane: { apiServerPort: fakes[1]!.port },
      },
    ],
  };
  await writeFile(path.join(dir, 'members.yaml'), JSON.stringify(members));
  const socket = path.join(dir, 'api.sock');
  api = `unix:${socket}`;
  agent = new Spawned([
    'run',
    '--config',
    path.join(dir, 'config.yaml'),
    '--api',
    api,
    '--state-dir',
    path.join(dir, 'state'),
    '--members',
    path.join(dir, 'members.yaml'),
  ]);
  await agent.waitForLog('kubeprism running');
}, 30_000);

afterAll(async () => {
  await agent?.kill();
  for (const fake of fakes) await fake.stop();
  await new Promise((resolve) => (hangUp ? hangUp.close(resolve) : resolve(undefined)));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('kubeprism get (the built binary)', () => {
  it('prints readable cells: the endpoint list as host:port (source), an AGE, no JSON', async () => {
    // The endpoints include the member once the members file has been read, and its upstream exists.
    const watch = new Spawned(['get', 'kpu', '-w', '-o', 'name', '--api', api]);
    try {
      await watch.waitFor(() => watch.lines().includes(`kubeprismupstream/${loopback(22)}:${fakes[1]!.port}`), 'the member upstream');
    } finally {
      await watch.kill();
    }
    const wanted = `${loopback(22)}:${fakes[1]!.port} (member cp-1)`;
    const out = await kubeprism(['get', 'kpe', '--api', api]);
    expect(out.code).toBe(0);
    const [header, row] = out.stdout.trimEnd().split('\n');
    expect(header?.split(/\s{3,}/)).toEqual(['NAMESPACE', 'TYPE', 'ID', 'VERSION', 'AGE', 'ENDPOINTS']);
    expect(row).toMatch(/^k8s\s+KubePrismEndpoint\s+k8s-cluster\s+\d+\s+\d+s\s+/);
    expect(row).toContain(`${loopback(21)}:${fakes[0]!.port} (clusterEndpoint), ${wanted}`);
    expect(row).not.toMatch(/[{}"]/);
  });

  it('-o name piped into xargs kubeprism get -o yaml prints every resource as one YAML stream', async () => {
    const names = await sh('kubeprism get kpu -o name');
    expect(names.code).toBe(0);
    const lines = names.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(line).toMatch(/^kubeprismupstream\/127\.0\.0\.2[12]:\d+$/);
    const piped = await sh(`kubeprism get kpu -o name | tee "${dir}/names" | xargs kubeprism get -o yaml`);
    expect(piped.code).toBe(0);
    const docs = parseAllDocuments(piped.stdout).map((d) => d.toJS());
    expect(docs.length).toBe(lines.length);
    const { stdout: pipedNames } = await sh(`cat "${dir}/names"`);
    expect(docs.map((d: { metadata: { id: string } }) => `kubeprismupstream/${d.metadata.id}`)).toEqual(pipedNames.trim().split('\n'));
    expect(docs.every((d: { metadata: { type: string } }) => d.metadata.type === 'KubePrismUpstreams.kubernetes.talos.dev')).toBe(true);
  });

  it('-o json is kubectl List for a list, -o jsonpath reads it', async () => {
    const list = JSON.parse((await kubeprism(['get', 'kpu', '-o', 'json', '--api', api])).stdout);
    expect(list).toMatchObject({ apiVersion: 'v1', kind: 'List' });
    const ids = await kubeprism(['get', 'kpu', '-o', 'jsonpath={.items[*].metadata.id}', '--api', api]);
    expect(ids.stdout).toBe(list.items.map((r: { metadata: { id: string } }) => r.metadata.id).join(' '));
    const host = await kubeprism(['get', 'kubeprismstatus/k8s-loadbalancer', '-o', 'jsonpath={.spec.host}', '--api', api]);
    expect(host.stdout).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('validate and apply-config read standard input for -', async () => {
    const config = path.join(dir, 'config.yaml');
    const valid = await sh(`kubeprism validate - < "${config}"`);
    expect(valid).toMatchObject({ code: 0, stdout: expect.stringMatching(/^standard input is valid: worker/) });
    const members = await sh(
      `printf 'members:\\n  - id: x\\n    hostname: x\\n    machineType: worker\\n    addresses: [nope]\\n' | kubeprism validate --members -`,
    );
    expect(members.code).toBe(1);
    expect(members.stderr).toContain('members.0.addresses.0: must be an IPv4 or IPv6 address (got "nope") (line 5, column 17)');
    const applied = await sh(`cat "${config}" | kubeprism apply-config -`);
    expect(applied).toMatchObject({ code: 0, stdout: expect.stringMatching(/standard input is already in force|applied standard input/) });
  });

  it('completion bash prints a script bash accepts, with the agent types', async () => {
    const file = path.join(dir, 'kubeprism.bash');
    const generated = await sh(`kubeprism completion bash > "${file}"`);
    expect(generated.code).toBe(0);
    const out = await sh(
      `bash -n "${file}" && bash -c '. "${file}"; COMP_WORDS=(kubeprism get kp); COMP_CWORD=2; _kubeprism; echo "\${COMPREPLY[*]}"'`,
    );
    expect(out).toMatchObject({ code: 0, stdout: 'kpc kpe kpk kps kpu\n' });
  });
});

describe('exit codes (the built binary)', () => {
  it('0: done', async () => {
    expect((await kubeprism(['get', 'kps', '--api', api])).code).toBe(0);
  });

  it('1: invalid input or a failed check', async () => {
    const invalid = path.join(dir, 'invalid.yaml');
    await writeFile(invalid, v1alpha1Config({ kubePrism: { enabled: true, port: 74450 } }));
    expect((await kubeprism(['validate', invalid])).code).toBe(1);
    expect((await kubeprism(['get', 'kps', 'nobody', '--api', api])).code).toBe(1);
  });

  it('2: usage errors, with a hint', async () => {
    for (const args of [
      [],
      ['nope'],
      ['get'],
      ['get', 'kps', '-o', 'xml'],
      ['get', 'kps', '-l', 'a in ('],
      ['validate'],
      ['completion', 'tcsh'],
      ['get', 'kps', '--api', 'bogus'],
    ]) {
      const res = await kubeprism(args);
      expect(res.code, args.join(' ')).toBe(2);
      expect(res.stderr, args.join(' ')).toMatch(/--help/);
    }
  });

  it('3: the agent cannot be reached (no socket file, or it hangs up)', async () => {
    for (const where of [`unix:${path.join(dir, 'nobody.sock')}`, hangUpAddress]) {
      const res = await kubeprism(['get', 'kps', '--api', where]);
      expect(res.code, where).toBe(3);
      expect(res.stderr, where).toMatch(/^kubeprism: cannot reach the kubeprism agent at /);
    }
  });
});
