import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliModel } from '../../src/cli/completion.js';
import { bashScript } from '../../src/cli/completion-scripts.js';
import { buildProgram, runCli } from '../../src/cli/program.js';

// `kubeprism completion bash|zsh|fish`: scripts generated from the commander tree, checked by the shells
// themselves where they are installed (bash is; zsh and fish when apt could install them).

const run = promisify(execFile);
const shell = (name: string): string | undefined => ['/usr/bin', '/bin'].map((d) => path.join(d, name)).find((p) => existsSync(p));
const BASH = shell('bash');
const ZSH = shell('zsh');
const FISH = shell('fish');

const silent = { stdout: { write: () => true }, stderr: { write: () => true }, env: {} };

async function script(name: string, api: string): Promise<string> {
  let stdout = '';
  const code = await runCli(['completion', name, '--api', api], { ...silent, stdout: { write: (s: string) => (stdout += s) } });
  expect(code).toBe(0);
  return stdout;
}

let dir: string;
let nobody: string;
let fakeAgent: Server;
let silentAgent: Server;
const address = (server: Server): string => `127.0.0.1:${(server.address() as AddressInfo).port}`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-completion-'));
  nobody = `unix:${path.join(dir, 'nobody.sock')}`;
  // An agent with one type of its own, to tell its list from the built-in one.
  fakeAgent = createServer((req, res) => {
    const spec = { type: 'Widgets.example.dev', displayType: 'Widget', defaultNamespace: 'x', aliases: ['widget', 'wdg'] };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify([{ metadata: {}, spec: { ...spec, printColumns: [] } }]));
  });
  // One that accepts and never answers.
  silentAgent = createServer(() => undefined);
  await Promise.all([fakeAgent, silentAgent].map((s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))));
});
afterAll(async () => {
  silentAgent?.closeAllConnections();
  await Promise.all([fakeAgent, silentAgent].map((s) => new Promise((resolve) => s?.close(resolve))));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('completion scripts', () => {
  it('lists the types of the running agent, else the built-in ones (also when the agent does not answer)', async () => {
    const fromAgent = await script('bash', address(fakeAgent));
    expect(fromAgent).toContain('"wdg widget widgets"');
    expect(fromAgent).not.toContain('kps');
    for (const api of [nobody, address(silentAgent)]) {
      const builtIn = await script('bash', api);
      for (const name of ['kps', 'kubeprismstatus', 'kubeprismstatuses', 'kpu', 'members', 'm', 'mcs', 'ds', 'rd', 'ns'])
        expect(builtIn).toMatch(new RegExp(`[" ]${name}[" ]`));
    }
  });

  it('includes commands added to the tree by anyone (e.g. version), with their flags', () => {
    const program = buildProgram(silent, { value: 0 });
    const text = bashScript(cliModel(program, []));
    expect(text).toMatch(/__kubeprism_reply "run .*version.*"/);
    expect(text).toMatch(/ {4}version\)\n {6}case \$prev in\n {8}-o\|--output\) __kubeprism_reply "text json"; return ;;/);
  });

  it.skipIf(!BASH)('bash accepts the script, and it completes commands, types, flags and their values', async () => {
    const file = path.join(dir, 'kubeprism.bash');
    await writeFile(file, await script('bash', nobody));
    await run(BASH!, ['-n', file]);
    const members = path.join(dir, 'members.yaml');
    await writeFile(members, 'members: []\n');
    const cases: Array<[string[], string]> = [
      [['kubeprism', 'g'], 'get graph'],
      [['kubeprism', 'ge'], 'get'],
      [['kubeprism', 'get', 'kp'], 'kpc kpe kpk kps kpu'],
      [['kubeprism', 'get', '-n', 'k8s', '-o', 'yaml', 'kp'], 'kpc kpe kpk kps kpu'],
      [['kubeprism', 'get', 'kps', ''], ''], // ids are not completed
      [['kubeprism', 'get', '-o', 'j'], 'json jsonpath='],
      [['kubeprism', 'get', '--w'], '--watch'],
      [['kubeprism', 'completion', ''], 'bash zsh fish'],
      [['kubeprism', 'validate', '--members', path.join(dir, 'mem')], members],
      [['kubeprism', 'run', '--log-level', 'd'], 'debug'],
      [['kubeprism', 'help', 'v'], 'version validate'],
    ];
    const probe = cases
      .map(
        ([words]) =>
          `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _kubeprism; echo "\${COMPREPLY[*]}"`,
      )
      .join('\n');
    const { stdout } = await run(BASH!, ['-c', `source ${file}\n${probe}`]);
    const replies = stdout.split('\n').slice(0, cases.length);
    cases.forEach(([words], i) => expect(replies[i], words.join(' ')).toBe(cases[i]![1]));
    expect(replies[2]!.split(' ')).not.toContain('kubeprismstatuses.kubernetes.talos.dev');
    // `kubeprism get k<TAB>` lists the k-types, aliases and names.
    const { stdout: k } = await run(BASH!, [
      '-c',
      `source ${file}\nCOMP_WORDS=(kubeprism get k); COMP_CWORD=2; _kubeprism; echo "\${COMPREPLY[*]}"`,
    ]);
    expect(k.trim().split(' ')).toEqual(
      expect.arrayContaining(['kc', 'kpc', 'kpe', 'kps', 'kpu', 'kubeprismstatus', 'kubeprismupstreams']),
    );
  });

  it.skipIf(!ZSH)('zsh accepts the script, and it completes commands, types and -o values', async () => {
    const file = path.join(dir, '_kubeprism');
    await writeFile(file, await script('zsh', nobody));
    await run(ZSH!, ['-n', file]);
    // Outside a completion widget, compadd and _describe are stand-ins that print what they were given.
    const { stdout } = await run(ZSH!, [
      '-f',
      '-c',
      [
        'compdef() { :; }',
        'compadd() { print -r -- "compadd ${(j: :)@}"; }',
        '_describe() { local -a a b; a=("${(@P)4}"); b=(${a%%:*}); print -r -- "describe ${(j: :)b}"; }',
        `source ${file}`,
        'words=(kubeprism g); CURRENT=2; _kubeprism',
        'words=(kubeprism get k); CURRENT=3; _kubeprism',
        'words=(kubeprism get -o ""); CURRENT=4; _kubeprism',
      ].join('\n'),
    ]);
    const [commands, types, outputs] = stdout.trim().split('\n');
    expect(commands).toMatch(/^describe run version get dump graph apply-config validate completion help$/);
    expect(types?.split(' ')).toEqual(expect.arrayContaining(['compadd', '--', 'kps', 'kpu', 'members']));
    expect(outputs).toBe('compadd -- table wide yaml json name jsonpath=');
  });

  it.skipIf(!FISH)('fish accepts the script, and it completes commands, types and -o values', async () => {
    const file = path.join(dir, 'kubeprism.fish');
    await writeFile(file, await script('fish', nobody));
    await run(FISH!, ['--no-execute', file]);
    const complete = async (line: string): Promise<string[]> => {
      const { stdout } = await run(FISH!, ['--no-config', '-c', `source ${file}; complete -C '${line}'`]);
      return stdout
        .trim()
        .split('\n')
        .map((l) => l.split('\t')[0]!);
    };
    expect(await complete('kubeprism ge')).toEqual(['get']);
    expect(await complete('kubeprism get kp')).toEqual(['kpc', 'kpe', 'kpk', 'kps', 'kpu']);
    expect(await complete('kubeprism get -n k8s kp')).toEqual(['kpc', 'kpe', 'kpk', 'kps', 'kpu']);
    expect(await complete('kubeprism get -o ')).toEqual(['json', 'jsonpath=', 'name', 'table', 'wide', 'yaml']);
    expect(await complete('kubeprism completion ')).toEqual(['bash', 'fish', 'zsh']);
  });
});
