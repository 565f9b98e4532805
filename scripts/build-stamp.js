// The version and git commit a build is stamped with, computed at build time only (the program never
// runs git): the commit comes from KUBEPRISM_BUILD_COMMIT when set (a build from a source tarball, CI),
// else from `git rev-parse HEAD` in the checkout, else it is null.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';

/** The package root (this file lives in scripts/). */
export const ROOT = path.resolve(import.meta.dirname, '..');

/** `{version, commit}` for this checkout; commit is null when it cannot be known. */
export function buildStamp() {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  return { version: String(pkg.version), commit: commit() };
}

function commit() {
  const given = process.env.KUBEPRISM_BUILD_COMMIT?.trim();
  if (given) return given;
  try {
    const out = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' }).trim();
    // Only a checkout of this package counts: a tarball unpacked inside some other repository is not one.
    const top = execFileSync('git', ['rev-parse', '--show-toplevel'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'ignore'],
      encoding: 'utf8',
    }).trim();
    return /^[0-9a-f]{40,64}$/.test(out) && path.resolve(top) === ROOT ? out : null;
  } catch {
    return null; // no git, or not a checkout
  }
}
