import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loopback } from '../harness/ports.js';
import { httpRequest, splitAddress, writeAgentConfig } from './ops-helpers.js';
import { kubeprism, Spawned, type Launcher } from './process.js';

// What is expected: `npm run build:binary` makes one executable that, copied alone into an empty
// directory (no Node.js install used, no node_modules anywhere above it), runs `version` (the version
// and commit injected at build time), `validate` (lazily loaded schemas inside the bundle), and `run`
// with pretty logs (pino-pretty in-process), its debug API on a unix socket that `get` reads, and the
// metrics listener; SIGTERM stops it with exit 0. Built once here (~4 s idle, more under load).

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const COMMIT = 'fedcba9876543210fedcba9876543210fedcba98';
const run = promisify(execFile);

let work: string;
let node: string;
let binary: Launcher;
let version: string;

/** No Node.js settings from the test runner may reach the executable (it honours NODE_OPTIONS). */
const cleanEnv = { NODE_OPTIONS: '', NODE_PATH: '' };

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-sea-'));
  const built = path.join(work, 'build', `kubeprism-linux-${process.arch}`);
  await run(process.execPath, [path.join(ROOT, 'scripts', 'build-binary.js'), '--out', built, '--quiet'], {
    cwd: ROOT,
    env: { ...process.env, KUBEPRISM_BUILD_COMMIT: COMMIT },
  });
  // The node: an empty directory holding only the executable and its config.
  node = path.join(work, 'node');
  await mkdir(node);
  await copyFile(built, path.join(node, 'kubeprism'));
  await run('chmod', ['755', path.join(node, 'kubeprism')]);
  await rm(path.join(work, 'build'), { recursive: true, force: true });
  binary = [path.join(node, 'kubeprism')];
  version = (JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}, 180_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the single executable', () => {
  it('prints its version and the commit injected at build time', async () => {
    const result = await kubeprism(['version', '-o', 'json'], { launcher: binary, cwd: node, env: cleanEnv });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(result.stdout)).toEqual({
      version,
      commit: COMMIT,
      node: process.version,
      platform: `${process.platform}/${process.arch}`,
    });
    expect((await kubeprism(['-V'], { launcher: binary, cwd: node, env: cleanEnv })).stdout).toBe(`${version}\n`);
  });

  it('validates configs offline', async () => {
    await copyFile(path.join(ROOT, 'examples', 'controlplane.yaml'), path.join(node, 'controlplane.yaml'));
    const good = await kubeprism(['validate', 'controlplane.yaml'], { launcher: binary, cwd: node, env: cleanEnv });
    expect(good).toMatchObject({ code: 0, stderr: '' });
    expect(good.stdout).toMatch(/^controlplane\.yaml is valid: controlplane, /);

    await writeFile(
      path.join(node, 'bad.yaml'),
      'version: v1alpha1\nmachine:\n  type: worker\n  features:\n    kubePrism:\n      port: 70000\n',
    );
    const bad = await kubeprism(['validate', 'bad.yaml'], { launcher: binary, cwd: node, env: cleanEnv });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('machine.features.kubePrism.port');
  });

  it('runs the agent with pretty logs, answers get through a unix socket, serves metrics, stops on SIGTERM', async () => {
    const { configPath } = await writeAgentConfig(node);
    const socket = path.join(node, 'api.sock');
    const agent = new Spawned(
      [
        'run',
        '--config',
        configPath,
        '--api',
        `unix:${socket}`,
        '--state-dir',
        path.join(node, 'state'),
        '--metrics-address',
        `${loopback(93)}:0`,
        '--log-format',
        'pretty',
      ],
      cleanEnv,
      binary,
      node,
    );
    try {
      const running = await agent.waitFor(
        () => /^\[[\d:.]+\] INFO( \(\d+\))?: cli: kubeprism running (\{.*\})$/m.exec(agent.stdout)?.[2],
        'the pretty "kubeprism running" line',
        30_000,
      );
      const metricsAddress = splitAddress((JSON.parse(running) as { metrics: string }).metrics);

      const get = await kubeprism(['get', 'kps', '--api', `unix:${socket}`], { launcher: binary, cwd: node, env: cleanEnv });
      expect(get).toMatchObject({ code: 0, stderr: '' });
      expect(get.stdout).toMatch(/^NAMESPACE\s+TYPE\s+ID\s+VERSION\s+AGE\s+HOST\s+HEALTHY\s+LISTENING/);
      expect(get.stdout).toMatch(/\nk8s\s+KubePrismStatus\s+k8s-loadbalancer\s+\d+\s+\S+\s+127\.0\.0\.1:\d+\s/);

      const metrics = await httpRequest(metricsAddress, '/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.body).toContain(`kubeprism_build_info{version="${version}",commit="${COMMIT}",node="${process.version}"`);

      expect(await agent.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      expect(agent.stdout).toMatch(/INFO: cli: stopped\n$/);
      expect(agent.stdout).not.toMatch(/^\{/m); // no JSON line: every line went through pino-pretty
      expect(agent.stderr).toBe('');
    } finally {
      await agent.kill();
    }
  });
});
