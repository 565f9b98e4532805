import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/** Reads a file as UTF-8; undefined when it does not exist. */
export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** How {@link writeFileAtomic} sets the file's permissions. */
export interface AtomicWriteOptions {
  /** Permission bits, set exactly (the umask does not apply); default 0600. */
  readonly mode?: number;
  /**
   * Owner and group to give the file. When the process may not (not root, or not a member of the
   * group), the file keeps its owner and loses every group and other bit instead: never looser.
   */
  readonly owner?: { readonly uid: number; readonly gid: number };
}

/**
 * Writes a file so readers see the old content or the new, never half of it: temporary file in the same
 * directory, fsync, rename, fsync of the directory (so the rename survives a crash). Skips the write
 * when the content, mode and owner are already there; true when it wrote.
 */
export async function writeFileAtomic(file: string, content: string, options: number | AtomicWriteOptions = {}): Promise<boolean> {
  const { mode = 0o600, owner } = typeof options === 'number' ? { mode: options } : options;
  if ((await readIfExists(file)) === content && (await hasPermissions(file, mode, owner))) return false;
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const temporary = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    // Created without group or other bits, so no one else can open it before its mode is final.
    const handle = await open(temporary, 'wx', 0o600);
    try {
      await handle.writeFile(content, 'utf8');
      await setPermissions(handle, mode, owner);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
  await syncDirectory(dir);
  return true;
}

type FileHandle = Awaited<ReturnType<typeof open>>;

async function setPermissions(handle: FileHandle, mode: number, owner: AtomicWriteOptions['owner']): Promise<void> {
  if (owner !== undefined) {
    try {
      await handle.chown(owner.uid, owner.gid);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'EINVAL') throw err;
      // Ours rather than theirs: whoever the group or others were meant to be, they get nothing.
      mode &= 0o700;
    }
  }
  await handle.chmod(mode);
}

/** Whether `file` already has this mode (and owner); the fallback of setPermissions counts as having them. */
async function hasPermissions(file: string, mode: number, owner: AtomicWriteOptions['owner']): Promise<boolean> {
  const info = await stat(file);
  const current = info.mode & 0o7777;
  if (owner === undefined || (info.uid === owner.uid && info.gid === owner.gid)) return current === mode;
  return info.uid === process.getuid?.() && current === (mode & 0o700);
}

/** fsyncs a directory, so a rename in it is on disk; filesystems that cannot (EINVAL, EISDIR) are skipped. */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'ENOTSUP' && code !== 'EPERM') throw err;
  } finally {
    await handle?.close();
  }
}
