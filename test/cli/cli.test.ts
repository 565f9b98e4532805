import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { v1alpha1Config } from '../harness/configs.js';
import { CONFIG_SECRETS, startTestApi, type TestApi } from '../api/helpers.js';

const FIXTURES = path.resolve(import.meta.dirname, '..', 'fixtures', 'config');

interface CliOptions {
  env?: Record<string, string>;
  signal?: AbortSignal;
  onStdout?: (text: string) => void;
  onStderr?: (text: string) => void;
  stdin?: string;
  now?: number;
}

/** Runs the CLI in-process with captured output. */
async function cli(args: string[], options: CliOptions = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: { write: (s: string) => ((stdout += s), options.onStdout?.(stdout)) },
    stderr: { write: (s: string) => ((stderr += s), options.onStderr?.(stderr)) },
    env: options.env ?? {},
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.stdin !== undefined ? { stdin: Readable.from([options.stdin]) } : {}),
    ...(options.now !== undefined ? { now: () => options.now! } : {}),
  });
  return { code, stdout, stderr };
}

const cells = (line: string | undefined): string[] => line?.split(/\s{3,}/) ?? [];

let t: TestApi;
let dir: string;
let api: string[];
let cp1Created: number;
beforeAll(async () => {
  t = await startTestApi();
  api = ['--api', t.address];
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-cli-'));
  const cp1 = await t.agent.putMember(
    'cp-1',
    {
      nodeId: 'cp-1',
      hostname: 'cp-1.example.com',
      machineType: 'controlplane',
      addresses: ['10.0.0.11', 'fd00::11'],
      controlPlane: { apiServerPort: 6443 },
    },
    'file',
  );
  cp1Created = Date.parse(cp1.metadata.created);
  await t.agent.putMember('w-1', { nodeId: 'w-1', hostname: 'w-1', machineType: 'worker', addresses: ['10.0.1.1'] }, 'api');
});
afterAll(async () => {
  await t?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('kubeprism get: tables', () => {
  it('prints NAMESPACE, TYPE (display type), ID, VERSION, AGE and the narrow print columns', async () => {
    const { code, stdout } = await cli(['get', 'members', ...api], { now: cp1Created + 3 * 60_000 + 5_000 });
    expect(code).toBe(0);
    const [header, row, ...rest] = stdout.trimEnd().split('\n');
    expect(cells(header)).toEqual(['NAMESPACE', 'TYPE', 'ID', 'VERSION', 'AGE', 'HOSTNAME', 'MACHINE TYPE', 'API PORT']);
    expect(cells(row)).toEqual(['cluster', 'Member', 'cp-1', '1', '3m5s', 'cp-1.example.com', 'controlplane', '6443']);
    expect(rest.map(cells).map((c) => c[2])).toEqual(['w-1']);
    // Columns line up: every value starts where its header starts.
    expect(row?.indexOf('cp-1.example.com')).toBe(header?.indexOf('HOSTNAME'));
  });

  it('-o wide adds the columns that do not fit, readable (a list, not JSON); --no-headers drops the header', async () => {
    const { stdout } = await cli(['get', 'm', 'cp-1', '-o', 'wide', '--no-headers', ...api]);
    expect(stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(cells(stdout.trimEnd()).slice(5)).toEqual(['cp-1.example.com', 'controlplane', '10.0.0.11, fd00::11', '6443']);
  });

  it('prints one table per type for TYPE/ID arguments of several types', async () => {
    const { code, stdout } = await cli(['get', 'member/cp-1', 'ns/k8s', 'member/w-1', ...api]);
    expect(code).toBe(0);
    const [members, namespaces] = stdout.split('\n\n');
    expect(
      members
        ?.trimEnd()
        .split('\n')
        .map((l) => cells(l)[2]),
    ).toEqual(['ID', 'cp-1', 'w-1']);
    expect(
      namespaces
        ?.trimEnd()
        .split('\n')
        .map((l) => cells(l)[2]),
    ).toEqual(['ID', 'k8s']);
  });

  it('says "No resources found" on stderr, nothing on stdout, for an empty list', async () => {
    const { code, stdout, stderr } = await cli(['get', 'members', '-l', 'nobody', ...api]);
    expect({ code, stdout, stderr }).toEqual({ code: 0, stdout: '', stderr: 'No resources found in cluster namespace.\n' });
  });
});

describe('kubeprism get: -o yaml, json, name, jsonpath', () => {
  it('prints YAML like talosctl get -o yaml: node, metadata, spec, four-space indent; a list as one stream', async () => {
    const { code, stdout } = await cli(['get', 'member', 'cp-1', '-o', 'yaml', ...api]);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^node: 127\.0\.0\.1:\d+\nmetadata:\n {4}namespace: cluster\n {4}type: Members\.cluster\.talos\.dev\n {4}id: cp-1\n {4}version: 1\n {4}owner: ""\n {4}phase: running\n {4}created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n/,
    );
    expect(stdout).toContain('spec:\n    nodeId: cp-1\n    hostname: cp-1.example.com\n');
    const many = await cli(['get', 'ns', '-o', 'yaml', ...api]);
    const docs = parseAllDocuments(many.stdout).map((d) => d.toJS() as { metadata: { id: string } });
    expect(docs.map((d) => d.metadata.id)).toEqual(['cluster', 'config', 'k8s', 'meta', 'runtime']);
  });

  it('prints JSON as kubectl does: a List document for a list or several, the object for one', async () => {
    const list = JSON.parse((await cli(['get', 'members', '-o', 'json', ...api])).stdout);
    expect(list).toMatchObject({ apiVersion: 'v1', kind: 'List' });
    expect(list.items.map((r: { metadata: { id: string } }) => r.metadata.id)).toEqual(['cp-1', 'w-1']);
    const one = JSON.parse((await cli(['get', 'members', 'cp-1', '-o', 'json', ...api])).stdout);
    expect(one.metadata.id).toBe('cp-1');
    expect(JSON.parse((await cli(['get', 'member/cp-1', '-o', 'json', ...api])).stdout).metadata.id).toBe('cp-1');
    const two = JSON.parse((await cli(['get', 'members', 'cp-1', 'w-1', '-o', 'json', ...api])).stdout);
    expect(two.kind).toBe('List');
    expect(two.items).toHaveLength(2);
  });

  it('-o name prints <singular alias>/<id>, which get takes back', async () => {
    const names = await cli(['get', 'm', '-o', 'name', ...api]);
    expect(names.stdout).toBe('member/cp-1\nmember/w-1\n');
    const back = await cli(['get', ...names.stdout.trim().split('\n'), '-o', 'json', ...api]);
    expect(JSON.parse(back.stdout).items.map((r: { metadata: { id: string } }) => r.metadata.id)).toEqual(['cp-1', 'w-1']);
    expect((await cli(['get', 'ns', 'k8s', '-o', 'name', ...api])).stdout).toBe('namespace/k8s\n');
  });

  it('-o jsonpath follows kubectl: the object for one resource, the List for several', async () => {
    const one = await cli(['get', 'member', 'cp-1', '-o', 'jsonpath={.spec.addresses[*]}', ...api]);
    expect(one).toEqual({ code: 0, stdout: '10.0.0.11 fd00::11', stderr: '' });
    const range = await cli(['get', 'members', '-o', 'jsonpath={range .items[*]}{.metadata.id}={.spec.machineType}{"\\n"}{end}', ...api]);
    expect(range.stdout).toBe('cp-1=controlplane\nw-1=worker\n');
  });

  it('-l selects by labels: KEY=VALUE, KEY!=VALUE, KEY in (...), !KEY', async () => {
    const ids = async (selector: string): Promise<string> => (await cli(['get', 'm', '-l', selector, '-o', 'name', ...api])).stdout.trim();
    expect(await ids('kubeprism.dev/source=file')).toBe('member/cp-1');
    expect(await ids('kubeprism.dev/source!=file')).toBe('member/w-1');
    expect(await ids('kubeprism.dev/source in (api,embedded)')).toBe('member/w-1');
    expect(await ids('kubeprism.dev/source notin (api),kubeprism.dev/source')).toBe('member/cp-1');
    expect(await ids('!kubeprism.dev/source')).toBe('');
  });
});

describe('kubeprism get: errors', () => {
  it('reports an unknown type in one line and exits 1', async () => {
    const unknown = await cli(['get', 'nosuch', ...api]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^kubeprism: unknown resource type "nosuch"; known types: .*Members\.cluster\.talos\.dev/);
    expect(unknown.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('prints the resources found and reports each missing one, exit 1 (kubectl)', async () => {
    const missing = await cli(['get', 'members', 'nobody', ...api]);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toContain("doesn't exist");
    const some = await cli(['get', 'members', 'cp-1', 'nobody', 'w-1', '-o', 'name', ...api]);
    expect(some.code).toBe(1);
    expect(some.stdout).toBe('member/cp-1\nmember/w-1\n');
    expect(some.stderr).toMatch(/^kubeprism: .*nobody doesn't exist\n$/);
  });

  it.each([
    [['get', 'kps', '-o', 'xml'], /argument 'xml' is invalid/],
    [['get', 'kps', '-o', 'jsonpath={.spec'], /unclosed "\{"/],
    [['get', 'm', '-l', 'a in (b'], /invalid label selector/],
    [['get', 'm', 'cp-1', '-l', 'a=b'], /-l selects from a list/],
    [['get', 'm', 'cp-1', 'w-1', '-w'], /-w watches one type/],
    [['get', 'member/cp-1', 'w-1'], /every one must be/],
    [['get'], /missing required argument 'type'/],
    [['get', 'kps', '--nope'], /unknown option '--nope'/],
    [['nope'], /unknown command 'nope'/],
    [[], /Usage: kubeprism/],
    [['get', 'kps', '--api', 'nonsense'], /invalid API address "nonsense"/],
  ])('%j is a usage error: exit 2', async (args, message) => {
    const { code, stderr } = await cli(args.includes('--api') ? args : [...args, ...(args[0] === 'get' ? api : [])]);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it('says in one line that the agent is unreachable, exit 3', async () => {
    const { code, stderr } = await cli(['get', 'kps', '--api', `unix:${path.join(dir, 'nobody.sock')}`]);
    expect(code).toBe(3);
    expect(stderr).toMatch(/^kubeprism: cannot reach the kubeprism agent at unix:.*nobody\.sock: ENOENT/);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});

describe('kubeprism get -w', () => {
  it('watches: the current rows marked +, then changes as they happen (- for destroyed), until interrupted', async () => {
    const interrupt = new AbortController();
    let step = 0;
    const done = cli(['get', 'members', '-w', '-l', 'kubeprism.dev/source!=api', ...api], {
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
      .map((l) => cells(l).slice(0, 5).join('|'));
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

  it('when the list starts empty, prints the header with the first row, and keeps those columns; leaving the selection prints -', async () => {
    const interrupt = new AbortController();
    let step = 0;
    const spec = { nodeId: 'late', hostname: 'late-node.example.com', machineType: 'controlplane' as const, addresses: ['10.0.0.99'] };
    const next = (lines: string[]): void => {
      if (step === 0) {
        step = 1;
        void t.agent.putMember('late-1', spec, 'late');
      } else if (step === 1 && lines.length === 2) {
        step = 2;
        void t.agent.putMember('a-much-longer-member-id-x', { ...spec, hostname: 'a.much.longer.hostname.example.com' }, 'late');
      } else if (step === 2 && lines.length === 3) {
        step = 3;
        // Still there, but no longer selected.
        void t.agent.putMember('late-1', spec, 'other');
      } else if (step === 3 && lines.length === 4) {
        interrupt.abort();
      }
    };
    const { code, stdout, stderr } = await cli(['get', 'members', '-w', '-o', 'wide', '-l', 'kubeprism.dev/source=late', ...api], {
      signal: interrupt.signal,
      onStderr: () => next([]),
      onStdout: (out) => next(out.split('\n').filter((l) => l !== '')),
    });
    await t.agent.removeMember('late-1');
    await t.agent.removeMember('a-much-longer-member-id-x');
    expect(code).toBe(0);
    expect(stderr).toBe('No resources found in cluster namespace; watching.\n');
    const [header, ...rows] = stdout.trimEnd().split('\n');
    expect(rows.map((r) => r.slice(0, 1))).toEqual(['+', '+', '-']);
    const at = (line: string, text: string): number => line.indexOf(text);
    for (const row of [rows[0]!, rows[2]!]) {
      expect(at(row, 'late-1')).toBe(at(header!, 'ID'));
      expect(at(row, 'late-node.example.com')).toBe(at(header!, 'HOSTNAME'));
      expect(at(row, '10.0.0.99')).toBe(at(header!, 'ADDRESSES'));
    }
    // The longer row is pushed on its own and falls back into line where it can.
    expect(at(rows[1]!, 'a-much-longer-member-id-x')).toBe(at(header!, 'ID'));
  }, 15_000);
});

describe('kubeprism dump and graph', () => {
  it('dumps every resource as YAML or JSON without a single machine-config secret', async () => {
    const yaml = await cli(['dump', ...api]);
    const json = await cli(['dump', '-o', 'json', ...api]);
    for (const out of [yaml, json]) {
      expect(out.code).toBe(0);
      expect(out.stdout).toContain('MachineConfigs.config.talos.dev');
      for (const secret of CONFIG_SECRETS) expect(out.stdout).not.toContain(secret);
    }
    expect((JSON.parse(json.stdout) as unknown[]).length).toBe(parseAllDocuments(yaml.stdout).length);
  });

  it('prints the graph as DOT by default, as JSON with -o json or --format json', async () => {
    const dot = await cli(['graph', ...api]);
    expect(dot.stdout).toMatch(/^digraph kubeprism \{/);
    for (const flag of ['-o', '--format']) {
      const json = JSON.parse((await cli(['graph', flag, 'json', ...api])).stdout) as { controllers: unknown[] };
      expect(json.controllers.length).toBeGreaterThan(0);
    }
    expect((await cli(['graph', '-o', 'dot', ...api])).stdout).toBe(dot.stdout);
    expect(await cli(['graph', '-o', 'json', '--format', 'dot', ...api])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('disagree'),
    });
  });
});

describe('kubeprism apply-config', () => {
  it('applies a good config and exits 0; prints every error and exits 1 for a bad one', async () => {
    const good = path.join(dir, 'good.yaml');
    await writeFile(good, v1alpha1Config({ clusterName: 'cli-applied', kubePrism: { enabled: false } }));
    const applied = await cli(['apply-config', good, ...api]);
    expect(applied).toMatchObject({ code: 0, stderr: '' });
    expect(applied.stdout).toMatch(/^applied .*good\.yaml: machine config version \d+\n$/);
    expect((await cli(['apply-config', good, ...api])).stdout).toContain('nothing changed');

    const rejected = await cli(['apply-config', path.join(FIXTURES, 'invalid', 'port-out-of-range.yaml'), ...api]);
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toContain('  machine.features.kubePrism.port: ');
    const missing = await cli(['apply-config', path.join(dir, 'missing.yaml'), ...api]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^kubeprism: cannot read .*missing\.yaml/);
  });

  it('reads standard input for -', async () => {
    const text = v1alpha1Config({ clusterName: 'from-stdin', kubePrism: { enabled: false } });
    const applied = await cli(['apply-config', '-', ...api], { stdin: text });
    expect(applied).toMatchObject({ code: 0, stderr: '' });
    expect(applied.stdout).toMatch(/^applied standard input: machine config version \d+\n$/);
    const rejected = await cli(['apply-config', '-', ...api], { stdin: 'version: v1alpha1\nmachine: 3\n' });
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toMatch(/^machine config standard input rejected/);
  });
});

describe('kubeprism validate', () => {
  const badMembers = 'members:\n  - id: a\n    hostname: a\n    machineType: nope\n    addresses: [10.0.0.1]\n';

  it('checks a machine config offline: exit 0 with a summary, exit 1 listing the errors; - reads standard input', async () => {
    const ok = await cli(['validate', path.join(FIXTURES, 'v1alpha1-controlplane.yaml')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('is valid: controlplane, cluster endpoint https://cluster.example.com:6443, KubePrism on 127.0.0.1:7445');
    const bad = await cli(['validate', path.join(FIXTURES, 'invalid', 'port-out-of-range.yaml')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/machine\.features\.kubePrism\.port: .*\(line \d+, column \d+\)/);
    const text = await readFile(path.join(FIXTURES, 'invalid', 'port-out-of-range.yaml'), 'utf8');
    const piped = await cli(['validate', '-'], { stdin: text });
    expect(piped.code).toBe(1);
    expect(piped.stderr).toBe(bad.stderr.replace(/^.*? is invalid/, 'standard input is invalid'));
  });

  it('checks a members file with --members, in the same style (path, line, column)', async () => {
    const ok = await cli(['validate', '--members', path.join(FIXTURES, 'members.yaml')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/members\.yaml is valid: \d+ member\(s\)/);
    const bad = await cli(['validate', '--members', '-'], { stdin: badMembers });
    expect(bad).toMatchObject({ code: 1, stdout: '' });
    expect(bad.stderr).toBe(
      'standard input is invalid:\n  members.0.machineType: must be controlplane, worker or init (got "nope") (line 4, column 18)\n',
    );
  });

  it('checks both at once and fails if either is invalid; needs at least one; only one can be -', async () => {
    const members = path.join(dir, 'bad-members.yaml');
    await writeFile(members, badMembers);
    const both = await cli(['validate', path.join(FIXTURES, 'v1alpha1-controlplane.yaml'), '--members', members]);
    expect(both.code).toBe(1);
    expect(both.stdout).toContain('is valid');
    expect(both.stderr).toContain('bad-members.yaml is invalid');
    expect(await cli(['validate'])).toMatchObject({ code: 2, stderr: expect.stringContaining('needs a machine config') });
    expect(await cli(['validate', '-', '--members', '-'])).toMatchObject({ code: 2, stderr: expect.stringContaining('only one') });
  });
});

describe('kubeprism usage', () => {
  it('describes every flag in --help of every command, and the exit codes', async () => {
    const expected: Record<string, string[]> = {
      run: ['--config', '--api', '--state-dir', '--output-dir', '--members', '--log-level'],
      get: ['--namespace', '--output', '--selector', '--no-headers', '--watch', '--api'],
      dump: ['--output', '--api'],
      graph: ['--output', '--format', '--api'],
      'apply-config': ['--api'],
      validate: ['--members'],
      completion: ['--api'],
    };
    const top = await cli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/Exit codes:\n {2}0 .*\n {2}1 .*invalid input.*\n {2}2 .*usage.*\n {2}3 .*unreachable/);
    for (const [command, flags] of Object.entries(expected)) {
      expect(top.stdout).toContain(command);
      const help = await cli([command, '--help']);
      expect(help.code).toBe(0);
      for (const flag of flags) expect(help.stdout, `${command} ${flag}`).toMatch(new RegExp(`${flag} [^\\n]*\\S{3,}`));
    }
  });
});
