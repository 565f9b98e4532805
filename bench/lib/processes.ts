/**
 * Process and temp-dir bookkeeping for the benchmark: everything started here is killed, and every temp
 * dir removed, on a normal end, on failure, and on SIGINT/SIGTERM.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const children = new Set<ChildProcess>();
const groups = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let installed = false;

function killEverything(signal: NodeJS.Signals): void {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) continue;
    try {
      // A detached child leads its own process group: kill the group (socat forks one process per connection).
      if (groups.has(child)) process.kill(-child.pid, signal);
      else child.kill(signal);
    } catch {
      // already gone
    }
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function installHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => killEverything('SIGKILL'));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}: stopping every process it started\n`);
      killEverything('SIGKILL');
      process.exit(130);
    });
  }
}

/** Spawn a process that is killed when the benchmark ends (with its whole group when `group`). */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions & { group?: boolean } = {}): ChildProcess {
  installHandlers();
  const { group = false, ...rest } = options;
  const child = spawn(command, args, { ...rest, detached: group });
  children.add(child);
  if (group) groups.add(child);
  child.once('exit', () => {
    if (group && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL'); // forked leftovers of a group leader
      } catch {
        // none left
      }
    }
    children.delete(child);
    groups.delete(child);
  });
  return child;
}

/** Track a child started some other way (e.g. `fork`). */
export function track(child: ChildProcess): void {
  installHandlers();
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const group = groups.has(child) && child.pid !== undefined;
  const send = (signal: NodeJS.Signals): void => {
    try {
      if (group) process.kill(-child.pid, signal);
      else child.kill(signal);
    } catch {
      // already gone
    }
  };
  send('SIGTERM');
  const timer = setTimeout(() => send('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

/** A temp dir removed at exit (or earlier with {@link removeTempDir}). */
export function makeTempDir(prefix: string): string {
  installHandlers();
  const dir = mkdtempSync(path.join(os.tmpdir(), `kubeprism-bench-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

/** Remove a temp dir now. */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Resident set size of one process, in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/**
 * Proportional set size summed over a process and its descendants, in bytes: the fair total for a proxy
 * that forks per connection (RSS would count the shared libraries once per process).
 */
export function pssTreeBytes(pid: number): number {
  const all = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  const parentOf = new Map<number, number>();
  for (const d of all) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(d), Number(fields[1]));
    } catch {
      // exited meanwhile
    }
  }
  const tree = new Set([pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [p, parent] of parentOf) {
      if (!tree.has(p) && tree.has(parent)) {
        tree.add(p);
        grew = true;
      }
    }
  }
  let total = 0;
  for (const p of tree) {
    try {
      const rollup = readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
      total += Number(/Pss:\s+(\d+) kB/.exec(rollup)?.[1] ?? 0) * 1024;
    } catch {
      // exited meanwhile
    }
  }
  return total;
}
