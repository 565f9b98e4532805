/** Finding (and, when missing, installing from the system's package manager) the peer proxies. */
import { spawnSync } from 'node:child_process';

/** The absolute path of `command`, or undefined when it is not on PATH. */
export function which(command: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path !== '' ? path : undefined;
}

let updated = false;

/**
 * Make sure `command` exists, installing the Debian/Ubuntu package `pkg` with apt-get when it does
 * not. Resolves with the path, or with a reason that says why it could not be had.
 */
export function ensureCommand(command: string, pkg: string, log: (line: string) => void): { path: string } | { missing: string } {
  const existing = which(command);
  if (existing) return { path: existing };
  if (!which('apt-get')) return { missing: `${command} not found and no apt-get to install it (install the ${pkg} package)` };
  if (process.getuid?.() !== 0) return { missing: `${command} not found; installing it needs root (run: sudo apt-get install -y ${pkg})` };
  log(`${command} not found: installing the ${pkg} package with apt-get…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let install = spawnSync('apt-get', ['install', '-y', '-qq', pkg], { encoding: 'utf8', env });
  if (install.status !== 0 && !updated) {
    updated = true;
    spawnSync('apt-get', ['update', '-qq'], { encoding: 'utf8', env });
    install = spawnSync('apt-get', ['install', '-y', '-qq', pkg], { encoding: 'utf8', env });
  }
  const installed = which(command);
  if (installed) return { path: installed };
  const why = (install.stderr || install.stdout || '').trim().split('\n').slice(-2).join(' ');
  return { missing: `${command} could not be installed with apt-get (${why || `exit ${install.status}`})` };
}
