import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Adoption } from '../config/index.js';
import { AdoptedKubeconfigStatusType, type AdoptedKubeconfigStatusSpec } from '../resources/index.js';
import { outputOf, ptr, type Controller, type ControllerContext } from '../runtime/index.js';
import { watchPath, type PathWatch, type WatchPathOptions } from '../util/file-watcher.js';
import { AdoptedKubeconfigError, readAdoptedKubeconfig } from './adopted-kubeconfig.js';
import { machineConfigInput, readMachineConfig } from './machine-config-view.js';

/** Options of the adopted kubeconfigs' status controller. */
export interface AdoptedKubeconfigStatusOptions {
  /** Where the copies go: `<outputDir>/<name>/kubeconfig`. */
  readonly outputDir: string;
  /** Adopted on the command line (`--adopt-kubeconfig NAME=PATH`), beside the machine config's `adoptKubeconfigs`. */
  readonly adoptions?: readonly Adoption[];
  /** File-watch debounce and polling (tests shorten them). */
  readonly watch?: Pick<WatchPathOptions, 'debounceMs' | 'pollMs'>;
}

/** The file an adopted kubeconfig's copy is written to. */
export function adoptedKubeconfigPath(outputDir: string, name: string): string {
  return path.join(outputDir, name, 'kubeconfig');
}

/**
 * Reads every adopted kubeconfig (the command line's, then the machine config's) and says in an
 * AdoptedKubeconfigStatus whether it can be used: the current context's server and the TLS server name
 * its copy gets, or why not (a stable code and the reason). Watches each file, so a rotation (rewritten
 * in place or replaced by rename) or a repair is picked up; a file that turns bad keeps the last good
 * server in its status, so its component keeps its decision and its copy. Nothing of the content leaves
 * this controller but those names.
 */
export function adoptedKubeconfigStatusController(options: AdoptedKubeconfigStatusOptions): Controller {
  const flagged = options.adoptions ?? [];
  return {
    name: 'AdoptedKubeconfigStatusController',
    inputs: () => [machineConfigInput()],
    outputs: () => [outputOf(AdoptedKubeconfigStatusType)],
    async run(ctx) {
      const watches = new Map<string, PathWatch>();
      // Digest of each source's text at its last good read: a changed one bumps the revision. Memory only.
      const digests = new Map<string, string>();
      try {
        while (await ctx.nextEvent()) {
          ctx.startTrackingOutputs();
          const view = await readMachineConfig(ctx);
          const wanted = [
            ...flagged.map((a) => ({ ...a, origin: 'flag' as const })),
            // The parser refuses a config that adopts a name the command line adopts; the command line wins anyway.
            ...(view?.adoptKubeconfigs ?? [])
              .filter((a) => !flagged.some((f) => f.name === a.name))
              .map((a) => ({ ...a, origin: 'config' as const })),
          ];
          for (const adoption of wanted) await report(ctx, options.outputDir, adoption, digests);
          syncWatches(ctx, watches, new Set(wanted.map((a) => a.path)), options.watch);
          for (const name of digests.keys()) if (!wanted.some((a) => a.name === name)) digests.delete(name);
          await ctx.cleanupOutputs();
        }
      } finally {
        for (const watch of watches.values()) watch.close();
      }
    },
  };
}

/** Reads one adopted kubeconfig and writes its status (only when something changed). */
async function report(
  ctx: ControllerContext,
  outputDir: string,
  adoption: Adoption & { origin: 'flag' | 'config' },
  digests: Map<string, string>,
): Promise<void> {
  const id = ptr(AdoptedKubeconfigStatusType, adoption.name);
  const before = (await ctx.find(id))?.spec;
  const base: AdoptedKubeconfigStatusSpec = {
    source: adoption.path,
    origin: adoption.origin,
    kubeconfigPath: adoptedKubeconfigPath(outputDir, adoption.name),
    state: 'ready',
    revision: 0,
  };
  let next: AdoptedKubeconfigStatusSpec;
  try {
    const source = await readAdoptedKubeconfig(adoption.path);
    const digest = createHash('sha256').update(source.text).digest('hex');
    const same = before?.source === adoption.path && digests.get(adoption.name) === digest;
    const revision = (before?.revision ?? 0) + (same ? 0 : 1);
    digests.set(adoption.name, digest);
    next = {
      ...base,
      server: source.server,
      tlsServerName: source.tlsServerName ?? source.host,
      context: source.context,
      cluster: source.cluster,
      revision,
      lastChangeTime: same && before?.lastChangeTime ? before.lastChangeTime : new Date().toISOString(),
    };
    if (before?.state === 'rejected') ctx.logger.info({ name: adoption.name, source: adoption.path }, 'adopted kubeconfig usable again');
  } catch (err) {
    if (!(err instanceof AdoptedKubeconfigError)) throw err;
    // The last good reading stays (only for the same file): the component keeps its server and its copy.
    const kept = before?.source === adoption.path ? before : undefined;
    const unchanged = before?.state === 'rejected' && before.error?.code === err.code && before.error.message === err.message;
    next = {
      ...base,
      ...(kept?.server !== undefined ? { server: kept.server } : {}),
      ...(kept?.tlsServerName !== undefined ? { tlsServerName: kept.tlsServerName } : {}),
      ...(kept?.context !== undefined ? { context: kept.context } : {}),
      ...(kept?.cluster !== undefined ? { cluster: kept.cluster } : {}),
      ...(kept?.lastChangeTime !== undefined ? { lastChangeTime: kept.lastChangeTime } : {}),
      revision: kept?.revision ?? 0,
      state: 'rejected',
      error: { code: err.code, message: err.message, time: unchanged && before.error ? before.error.time : new Date().toISOString() },
    };
    if (!unchanged)
      ctx.logger.warn(
        { name: adoption.name, source: adoption.path, code: err.code, reason: err.message },
        'adopted kubeconfig unusable; its last copy stays',
      );
  }
  await ctx.modify(id, (draft) => {
    draft.spec = next;
  });
}

/** Watches exactly the files in `paths`; a change wakes the controller. */
function syncWatches(
  ctx: ControllerContext,
  watches: Map<string, PathWatch>,
  paths: ReadonlySet<string>,
  watch: AdoptedKubeconfigStatusOptions['watch'],
): void {
  for (const [file, w] of watches) {
    if (paths.has(file)) continue;
    w.close();
    watches.delete(file);
  }
  for (const file of paths) {
    if (watches.has(file)) continue;
    watches.set(
      file,
      watchPath(file, () => ctx.trigger(), {
        ...watch,
        onWatchError: (err) =>
          ctx.logger.warn({ file, code: (err as NodeJS.ErrnoException).code }, 'cannot watch an adopted kubeconfig; polling it'),
      }),
    );
  }
}
