import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { v1alpha1Config } from '../harness/configs.js';
import { CONFIG_SECRETS, startTestApi, type TestApi } from '../api/helpers.js';

const FIXTURES = path.resolve(import.meta.dirname, '..', 'fixtures', 'config');

/** Runs the CLI in-process with captured output. */
async function cli(
  args: string[],
  options: { env?: Record<string, string>; signal?: AbortSignal; onStdout?: (text: string) => void } = {},
) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: { write: (s: string) => ((stdout += s), options.onStdout?.(stdout)) },
    stderr: { write: (s: string) => (stderr += s) },
    env: options.env ?? {},
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { code, stdout, stderr };
}

let t: TestApi;
let dir: string;
beforeAll(async () => {
  t = await startTestApi();
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-cli-'));
  await t.agent.putMember('cp-1', {
    nodeId: 'cp-1',
    hostname: 'cp-1.example.com',
    machineType: 'controlplane',
    addresses: ['10.0.0.11', 'fd00::11'],
    controlPlane: { apiServerPort: 6443 },
  });
});
afterAll(async () => {
  await t?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('kubeprism get', () => {
  it('prints a talosctl-style table: NAMESPACE, TYPE (display type), ID, VERSION and the print columns', async () => {
    const { code, stdout } = await cli(['get', 'members', '--api', t.address]);
    expect(code).toBe(0);
    const [header, row, ...rest] = stdout.trimEnd().split('\n');
    expect(header?.split(/\s{3,}/)).toEqual(['NAMESPACE', 'TYPE', 'ID', 'VERSION', 'HOSTNAME', 'MACHINE TYPE', 'ADDRESSES', 'API PORT']);
    expect(row?.split(/\s{3,}/)).toEqual([
      'cluster',
      'Member',
      'cp-1',
      '1',
      'cp-1.example.com',
      'controlplane',
      '["10.0.0.11","fd00::11"]',
      '6443',
    ]);
    expect(rest).toEqual([]);
    // Columns line up: every value starts where its header starts.
    expect(row?.indexOf('cp-1.example.com')).toBe(header?.indexOf('HOSTNAME'));
  });

  it('takes the API address from KUBEPRISM_API', async () => {
    const { code, stdout } = await cli(['get', 'm', 'cp-1'], { env: { KUBEPRISM_API: t.address } });
    expect(code).toBe(0);
    expect(stdout).toContain('cp-1.example.com');
  });

  it('prints YAML like talosctl get -o yaml: node, metadata, spec, four-space indent', async () => {
    const { code, stdout } = await cli(['get', 'member', 'cp-1', '-o', 'yaml', '--api', t.address]);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^node: 127\.0\.0\.1:\d+\nmetadata:\n {4}namespace: cluster\n {4}type: Members\.cluster\.talos\.dev\n {4}id: cp-1\n {4}version: 1\n {4}owner: ""\n {4}phase: running\n {4}created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n/,
    );
    expect(stdout).toContain('spec:\n    nodeId: cp-1\n    hostname: cp-1.example.com\n');
    const many = await cli(['get', 'ns', '-o', 'yaml', '--api', t.address]);
    const docs = parseAllDocuments(many.stdout).map((d) => d.toJS() as { metadata: { id: string } });
    expect(docs.map((d) => d.metadata.id)).toEqual(['cluster', 'config', 'k8s', 'meta', 'runtime']);
  });

  it('prints JSON: an array for a list, an object for one resource', async () => {
    const list = JSON.parse((await cli(['get', 'members', '-o', 'json', '--api', t.address])).stdout) as unknown[];
    expect(list).toHaveLength(1);
    const one = JSON.parse((await cli(['get', 'members', 'cp-1', '-o', 'json', '--api', t.address])).stdout) as {
      metadata: { id: string };
    };
    expect(one.metadata.id).toBe('cp-1');
  });

  it('reports an unknown type or id in one line and exits 1', async () => {
    const unknown = await cli(['get', 'nosuch', '--api', t.address]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^kubeprism: unknown resource type "nosuch"; known types: .*Members\.cluster\.talos\.dev/);
    expect(unknown.stderr.trimEnd().split('\n')).toHaveLength(1);
    const missing = await cli(['get', 'members', 'nobody', '--api', t.address]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("doesn't exist");
  });

  it('watches: the current rows marked +, then changes as they happen (- for destroyed), until interrupted', async () => {
    const interrupt = new AbortController();
    let step = 0;
    const done = cli(['get', 'members', '-w', '--api', t.address], {
      signal: interrupt.signal,
      onStdout: (out) => {
        const lines = out.split('\n').filter((l) => l !== '');
        // Each step happens once the previous event has been printed.
        if (step === 0 && lines.length === 2) {
          step = 1;
          void t.agent.putMember('cp-2', { nodeId: 'cp-2', hostname: 'cp-2', machineType: 'worker', addresses: ['10.0.0.12'] });
        } else if (step === 1 && lines.length === 3) {
          step = 2;
          void t.agent.removeMember('cp-2');
        } else if (step === 2 && lines.some((l) => l.startsWith('-'))) {
          interrupt.abort();
        }
      },
    });
    const { code, stdout } = await done;
    expect(code).toBe(0);
    const lines = stdout
      .trimEnd()
      .split('\n')
      .map((l) =>
        l
          .split(/\s{3,}/)
          .slice(0, 5)
          .join('|'),
      );
    expect(lines).toEqual(
      [
        '*|NAMESPACE|TYPE|ID|VERSION',
        '+|cluster|Member|cp-1|1',
        '+|cluster|Member|cp-2|1',
        ' |cluster|Member|cp-2|2', // tearing down
        '-|cluster|Member|cp-2|2',
      ].map((l) => l.replace(/^ \|/, '|')),
    );
  }, 15_000);
});

describe('kubeprism dump and graph', () => {
  it('dumps every resource as YAML or JSON without a single machine-config secret', async () => {
    const yaml = await cli(['dump', '--api', t.address]);
    const json = await cli(['dump', '-o', 'json', '--api', t.address]);
    for (const out of [yaml, json]) {
      expect(out.code).toBe(0);
      expect(out.stdout).toContain('MachineConfigs.config.talos.dev');
      for (const secret of CONFIG_SECRETS) expect(out.stdout).not.toContain(secret);
    }
    expect((JSON.parse(json.stdout) as unknown[]).length).toBe(parseAllDocuments(yaml.stdout).length);
  });

  it('prints the graph as DOT by default and as JSON on request', async () => {
    const dot = await cli(['graph', '--api', t.address]);
    expect(dot.stdout).toMatch(/^digraph kubeprism \{/);
    const json = JSON.parse((await cli(['graph', '--format', 'json', '--api', t.address])).stdout) as { controllers: unknown[] };
    expect(json.controllers.length).toBeGreaterThan(0);
  });
});

describe('kubeprism apply-config and validate', () => {
  it('applies a good config and exits 0; prints every error and exits 1 for a bad one', async () => {
    const good = path.join(dir, 'good.yaml');
    await writeFile(good, v1alpha1Config({ clusterName: 'cli-applied', kubePrism: { enabled: false } }));
    const applied = await cli(['apply-config', good, '--api', t.address]);
    expect(applied).toMatchObject({ code: 0, stderr: '' });
    expect(applied.stdout).toMatch(/^applied .*good\.yaml: machine config version \d+\n$/);
    expect((await cli(['apply-config', good, '--api', t.address])).stdout).toContain('nothing changed');

    const rejected = await cli(['apply-config', path.join(FIXTURES, 'invalid', 'port-out-of-range.yaml'), '--api', t.address]);
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toContain('  machine.features.kubePrism.port: ');
    const missing = await cli(['apply-config', path.join(dir, 'missing.yaml'), '--api', t.address]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^kubeprism: cannot read .*missing\.yaml/);
  });

  it('validates offline: exit 0 with a summary, exit 1 listing the errors', async () => {
    const ok = await cli(['validate', path.join(FIXTURES, 'v1alpha1-controlplane.yaml')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('is valid: controlplane, cluster endpoint https://cluster.example.com:6443, KubePrism on 127.0.0.1:7445');
    const bad = await cli(['validate', path.join(FIXTURES, 'invalid', 'port-out-of-range.yaml')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('machine.features.kubePrism.port');
  });
});

describe('kubeprism usage', () => {
  it('describes every flag in --help of every command', async () => {
    const expected: Record<string, string[]> = {
      run: ['--config', '--api', '--state-dir', '--output-dir', '--members', '--log-level'],
      get: ['--namespace', '--output', '--watch', '--api'],
      dump: ['--output', '--api'],
      graph: ['--format', '--api'],
      'apply-config': ['--api'],
      validate: [],
    };
    const top = await cli(['--help']);
    expect(top.code).toBe(0);
    for (const [command, flags] of Object.entries(expected)) {
      expect(top.stdout).toContain(command);
      const help = await cli([command, '--help']);
      expect(help.code).toBe(0);
      for (const flag of flags) expect(help.stdout, `${command} ${flag}`).toMatch(new RegExp(`${flag} [^\\n]*\\S{3,}`));
    }
  });

  it('says in one line that the agent is unreachable, exit 1', async () => {
    const { code, stderr } = await cli(['get', 'kps', '--api', `unix:${path.join(dir, 'nobody.sock')}`]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^kubeprism: cannot reach the kubeprism agent at unix:.*nobody\.sock: ENOENT/);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('rejects an unknown output format with a usage error', async () => {
    const { code, stderr } = await cli(['get', 'kps', '-o', 'xml', '--api', t.address]);
    expect(code).not.toBe(0);
    expect(stderr).toContain('xml');
  });
});
