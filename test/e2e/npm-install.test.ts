import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeprism } from './process.js';

// What is expected: `npm pack` builds the package itself (prepack) and ships only what runs (bin,
// dist/src, the example configs and unit, README); the tarball installs with `npm install -g` into a
// fresh prefix and gives a working `kubeprism` (version, validate), which `npx kubeprism` finds too. Packing happens in a copy of the sources, so the checkout's dist/ (which
// other test files are running) is never rebuilt under them. With the npm cache warm (`npm ci` fills
// it) and --prefer-offline, the whole file takes about 15 s on an idle 2-core machine (tsc ~8 s, the
// install ~4 s), 30 s or more when other work shares the cores.

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const run = promisify(execFile);

let work: string;
let tarball: string;
let prefix: string;

/** The environment for npm: npm's own settings from an enclosing `npm test` must not leak into it. */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, KUBEPRISM_BUILD_COMMIT: COMMIT, NO_COLOR: '1' };
  for (const key of Object.keys(env)) {
    if (/^npm_(package|lifecycle)_/i.test(key) || /^npm_config_(local_prefix|prefix|global|global_prefix|dry_run)$/i.test(key))
      delete env[key];
  }
  delete env.KUBEPRISM_API;
  return env;
}

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', [...args, '--no-audit', '--no-fund', '--no-update-notifier'], {
    cwd,
    env: npmEnv(),
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-npm-'));
  const source = path.join(work, 'source');
  await mkdir(source);
  for (const entry of [
    'package.json',
    'package-lock.json',
    'README.md',
    'tsconfig.json',
    'tsconfig.build.json',
    'tsconfig.pack.json',
    'bin',
    'src',
    'examples',
    'scripts',
  ])
    await cp(path.join(ROOT, entry), path.join(source, entry), { recursive: true });
  await symlink(path.join(ROOT, 'node_modules'), path.join(source, 'node_modules'), 'dir');

  const packed = JSON.parse(await npm(['pack', '--json', '--pack-destination', work], source)) as Array<{ filename: string }>;
  tarball = path.join(work, packed[0]!.filename);
  prefix = path.join(work, 'prefix');
  await npm(['install', '--global', '--prefix', prefix, '--prefer-offline', tarball], work);
}, 240_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('npm pack and install', () => {
  it('ships only what runs: bin, the compiled dist/src, example configs and unit, README', async () => {
    const { stdout } = await run('tar', ['tzf', tarball]);
    const files = stdout.split('\n').filter((f) => f !== '' && !f.endsWith('/'));
    const outside = files.filter(
      (f) => !/^package\/(bin\/|dist\/src\/|examples\/[^/]+\.(yaml|service)$|README\.md$|package\.json$)/.test(f),
    );
    expect(outside).toEqual([]);
    expect(files).toContain('package/dist/src/cli/main.js');
    expect(files).toContain('package/dist/src/index.d.ts');
    expect(files).toContain('package/dist/src/build-info.json');
    expect(files).toContain('package/examples/kubeprism.service');
    expect(files.filter((f) => /\.(ts|map)$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('installs globally into a fresh prefix with a working kubeprism', async () => {
    const bin = path.join(prefix, 'bin', 'kubeprism');
    const version = await kubeprism(['version', '-o', 'json'], { launcher: [bin], cwd: work });
    expect(version).toMatchObject({ code: 0, stderr: '' });
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(JSON.parse(version.stdout)).toEqual({
      version: pkg.version,
      commit: COMMIT,
      node: process.version,
      platform: `${process.platform}/${process.arch}`,
    });

    const example = path.join(prefix, 'lib', 'node_modules', 'kubeprism', 'examples', 'worker.yaml');
    const validate = await kubeprism(['validate', example], { launcher: [bin], cwd: work });
    expect(validate).toMatchObject({ code: 0, stderr: '' });
    expect(validate.stdout).toMatch(/worker\.yaml is valid: worker, cluster endpoint https:\/\/\S+, KubePrism on 127\.0\.0\.1:7445\n$/);
  });

  it('runs with npx from the installed package', async () => {
    // npx finds a package installed globally in the configured prefix (--no-install: never the registry).
    const result = await kubeprism(['--no-install', 'kubeprism', 'version'], {
      launcher: ['npx'],
      cwd: work,
      env: { ...(npmEnv() as Record<string, string>), npm_config_prefix: prefix },
    });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain(`commit:   ${COMMIT}\n`);
  });
});
