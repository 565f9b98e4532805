// `npm run build:binary`: dist/bin/kubeprism-linux-<arch>, a single executable that needs neither Node.js
// nor node_modules on the node. Steps (Node's single executable applications):
//   1. esbuild bundles src/cli/main.ts and every dependency into one CommonJS script (lazy import()s
//      included), with the version and commit injected through `define` (nothing is read from disk);
//   2. `node --experimental-sea-config` turns the script into a blob (with V8's code cache: faster start);
//   3. a copy of the running node binary, stripped of its symbols when `strip` is available and the
//      stripped copy still runs, gets the blob injected by postject;
//   4. the result is run once (`version -o json`) to check it.
// Options: --out FILE (default dist/bin/kubeprism-linux-<arch>), --no-strip, --quiet.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { buildStamp, ROOT } from './build-stamp.js';

const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const ARCHES = { x64: 'x64', arm64: 'arm64' };
const BUILTINS = new Set(builtinModules);

const { values: args } = parseArgs({
  options: {
    out: { type: 'string' },
    'no-strip': { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
  },
});
const say = (text) => args.quiet || process.stdout.write(`${text}\n`);

function fail(message) {
  process.stderr.write(`build:binary: ${message}\n`);
  process.exit(1);
}

if (process.platform !== 'linux') fail(`builds Linux executables only (this is ${process.platform})`);
const arch = ARCHES[process.arch] ?? fail(`no single executable for ${process.arch}: x64 and arm64 only`);
const output = path.resolve(args.out ?? path.join(ROOT, 'dist', 'bin', `kubeprism-linux-${arch}`));
const work = path.join(path.dirname(output), `.${path.basename(output)}.build`);
const started = process.hrtime.bigint();
const elapsed = () => `${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s`;

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
try {
  // 1. The bundle.
  const stamp = buildStamp();
  const bundle = path.join(work, 'kubeprism.cjs');
  const result = await build({
    entryPoints: [path.join(ROOT, 'src', 'cli', 'main.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${process.versions.node.split('.')[0]}`,
    define: { __KUBEPRISM_BUILD__: JSON.stringify(stamp) },
    // Readable stack traces for real bugs: names and layout kept, only comments dropped.
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
  });
  // Anything left to require() at run time would fail inside the executable: only built-ins may remain.
  const external = Object.values(result.metafile.outputs)
    .flatMap((o) => o.imports)
    .filter((i) => i.external && !isBuiltin(i.path));
  if (external.length > 0) fail(`the bundle still requires ${[...new Set(external.map((i) => i.path))].join(', ')}`);

  // 2. The blob.
  const blob = path.join(work, 'kubeprism.blob');
  const seaConfig = path.join(work, 'sea-config.json');
  writeFileSync(seaConfig, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }));
  run(process.execPath, ['--experimental-sea-config', seaConfig], work);

  // 3. The executable: a copy of this node, stripped when that works, with the blob injected.
  const target = path.join(work, 'kubeprism');
  copyFileSync(process.execPath, target);
  chmodSync(target, 0o755);
  let stripped = false;
  if (!args['no-strip'] && spawnSync('strip', ['--version'], { stdio: 'ignore' }).status === 0) {
    run('strip', [target], work);
    if (spawnSync(target, ['-e', '0'], { stdio: 'ignore' }).status === 0) stripped = true;
    else copyFileSync(process.execPath, target); // the stripped copy does not start: ship it whole
  }
  // postject's CLI in a child: its ELF library prints harmless warnings about note sections, shown only on failure.
  const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
  run(process.execPath, [postject, target, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], work);

  // 4. It must run on its own (an empty environment, from another directory).
  const check = spawnSync(target, ['version', '-o', 'json'], { cwd: '/', env: {}, encoding: 'utf8' });
  if (check.status !== 0) fail(`the executable does not run: ${check.stderr || check.stdout || `exit ${check.status}`}`);
  const printed = JSON.parse(check.stdout);
  if (printed.version !== stamp.version || printed.commit !== stamp.commit)
    fail(`it reports ${check.stdout.trim()}, expected ${JSON.stringify(stamp)}`);

  mkdirSync(path.dirname(output), { recursive: true });
  rmSync(output, { force: true });
  copyFileSync(target, output);
  chmodSync(output, 0o755);
  const mib = (statSync(output).size / 1024 / 1024).toFixed(1);
  say(
    `${path.relative(process.cwd(), output) || output}: ${mib} MiB${stripped ? ' (stripped)' : ''}, kubeprism ${stamp.version} ${stamp.commit ?? '(no commit)'}, node ${process.version}; built in ${elapsed()}`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}

function run(command, argv, cwd) {
  try {
    execFileSync(command, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    fail(`${command} ${argv.join(' ')} failed: ${err.stderr?.toString() || err.message}`);
  }
}

function isBuiltin(name) {
  return name.startsWith('node:') || BUILTINS.has(name);
}
