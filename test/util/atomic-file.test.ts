import { chmod, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/util/atomic-file.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-atomic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('sets the mode exactly, whatever the umask, and leaves no temporary file behind', async () => {
    const file = path.join(dir, 'sub', 'f');
    const umask = process.umask(0o077);
    try {
      expect(await writeFileAtomic(file, 'a', { mode: 0o644 })).toBe(true);
    } finally {
      process.umask(umask);
    }
    expect((await stat(file)).mode & 0o7777).toBe(0o644);
    expect(await readdir(path.dirname(file))).toEqual(['f']);
  });

  it('skips a write that changes nothing, and rewrites when only the mode differs', async () => {
    const file = path.join(dir, 'f');
    expect(await writeFileAtomic(file, 'a', 0o600)).toBe(true);
    const { ino } = await stat(file);
    expect(await writeFileAtomic(file, 'a', 0o600)).toBe(false);
    expect((await stat(file)).ino).toBe(ino);
    await chmod(file, 0o666);
    expect(await writeFileAtomic(file, 'a', 0o600)).toBe(true);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, 'utf8')).toBe('a');
  });

  it('gives the file an owner where it may; else keeps its own and drops every group and other bit', async () => {
    const file = path.join(dir, 'f');
    const owner = { uid: 65534, gid: 65534 };
    await writeFileAtomic(file, 'a', { mode: 0o640, owner });
    const info = await stat(file);
    if (process.getuid?.() === 0) {
      expect([info.uid, info.gid, info.mode & 0o777]).toEqual([65534, 65534, 0o640]);
    } else {
      expect([info.uid, info.mode & 0o777]).toEqual([process.getuid?.(), 0o600]);
    }
    // Either way the same request again writes nothing.
    expect(await writeFileAtomic(file, 'a', { mode: 0o640, owner })).toBe(false);
  });
});
