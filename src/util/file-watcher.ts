import { watch, watchFile, unwatchFile, type FSWatcher } from 'node:fs';
import path from 'node:path';

/** Options of {@link watchPath}. */
export interface WatchPathOptions {
  /** Changes closer together than this are reported once (editors write in several steps). */
  readonly debounceMs?: number;
  /** Stat-polling period: the fallback where inotify misses (directory replaced, network filesystems). */
  readonly pollMs?: number;
  /** Called when the directory watch fails; polling continues. */
  readonly onWatchError?: (err: Error) => void;
}

/** A running watch; `close` stops it. */
export interface PathWatch {
  close(): void;
}

/**
 * Calls `onChange` when `file` is rewritten in place, replaced by rename, created or deleted. Watches the
 * parent directory (a rename replaces the inode a file watch would hold) and polls its stat as a fallback.
 */
export function watchPath(file: string, onChange: () => void, options: WatchPathOptions = {}): PathWatch {
  const debounceMs = options.debounceMs ?? 100;
  const base = path.basename(file);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const changed = (): void => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (!closed) onChange();
    }, debounceMs);
  };

  let dirWatcher: FSWatcher | undefined;
  try {
    dirWatcher = watch(path.dirname(file), { persistent: false }, (_event, name) => {
      if (name === null || name === base) changed();
    });
    dirWatcher.on('error', (err) => options.onWatchError?.(err));
  } catch (err) {
    options.onWatchError?.(err as Error);
  }
  const poll = (curr: { mtimeMs: number; ino: number; size: number }, prev: { mtimeMs: number; ino: number; size: number }): void => {
    if (curr.mtimeMs !== prev.mtimeMs || curr.ino !== prev.ino || curr.size !== prev.size) changed();
  };
  watchFile(file, { persistent: false, interval: options.pollMs ?? 1000 }, poll);

  return {
    close() {
      closed = true;
      clearTimeout(timer);
      dirWatcher?.close();
      unwatchFile(file, poll);
    },
  };
}
