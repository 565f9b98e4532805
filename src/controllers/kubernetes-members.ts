import type { KubernetesDiscoverySettings, MachineConfigView, MemberSpec } from '../config/index.js';
import {
  EndpointSliceWatcher,
  loadKubeconfig,
  RemovalDebounce,
  type ClientLimits,
  type RetryBackoff,
  type SliceWatcherSnapshot,
} from '../discovery/index.js';
import {
  DiscoveryStatusType,
  KUBERNETES_DISCOVERY_ID,
  MEMBER_SOURCE_LABEL,
  MemberType,
  type DiscoveryStatusSpec,
} from '../resources/index.js';
import { hasCode, kindOf, outputOf, ptr, type Controller, type ControllerContext } from '../runtime/index.js';
import { httpsURL, listenerAddress, readKubePrism, serverChoiceInputs } from './api-server-url.js';
import { machineConfigInput, readMachineConfig } from './machine-config-view.js';

/** The source label of members found in Kubernetes. */
export const KUBERNETES_SOURCE = 'kubernetes';

/** Timings and bounds of the Kubernetes discovery source (tests shorten them; the defaults suit a node). */
export interface KubernetesMembersOptions {
  /** Between failed attempts (default 1 s doubling to 30 s, ±20 %). */
  readonly backoff?: RetryBackoff;
  /** The `timeoutSeconds` of each watch (default: 5-10 min at random, like client-go, so nodes spread out). */
  readonly watchTimeoutSeconds?: number;
  /** Bound on a list, and on the wait for a watch's response headers (default 10 s). */
  readonly requestTimeoutMs?: number;
  /** A watch that ran this long before failing resets the backoff (default 30 s). */
  readonly healthyAfterMs?: number;
  readonly limits?: Partial<ClientLimits & { maxMembers: number }>;
}

const DEFAULT_LIMITS = { maxBodyBytes: 8 * 1024 * 1024, maxLineBytes: 1024 * 1024, maxSlices: 64, maxMembers: 256 };

/** What a running source was started with; a change of any of it restarts the source. */
interface SessionKey {
  readonly kubeconfig: string;
  readonly host: string;
  readonly port: number;
  /** The name to verify when the kubeconfig gives no `tls-server-name`. */
  readonly fallbackServerName: string;
}

interface Session {
  readonly key: string;
  readonly watcher: EndpointSliceWatcher;
  readonly server: string;
}

/** Why an enabled source cannot run yet, or the session it should run. */
async function plan(
  ctx: ControllerContext,
  view: MachineConfigView,
  settings: KubernetesDiscoverySettings,
): Promise<{ waitingFor: string } | SessionKey> {
  if (settings.kubeconfig === undefined) {
    return {
      waitingFor:
        'credentials: set kubernetesDiscovery.kubeconfig next to the KubePrism port (machine.features.kubePrism or the KubePrismConfig document)',
    };
  }
  const kubePrism = await readKubePrism(ctx);
  if (!kubePrism) return { waitingFor: 'KubePrism: it is disabled, and discovery reaches the API server through its listener' };
  const { config, listening } = kubePrism;
  if (!listening) return { waitingFor: `KubePrism: its listener on ${listenerAddress(config)} is not up yet` };
  // Every API server's certificate carries the cluster endpoint's name: clients reach them all through it.
  return {
    kubeconfig: settings.kubeconfig,
    host: config.host,
    port: config.port,
    fallbackServerName: config.tlsServerName ?? view.clusterEndpoint.host,
  };
}

/**
 * Learns the control-plane members from the `default/kubernetes` EndpointSlices, talking to the API
 * server through the local KubePrism listener (so discovery outlives the external endpoint). Enabled by
 * Talos's `cluster.discovery` switch; runs once KubePrism listens. Writes one Members resource per ready
 * API server (source `kubernetes`), keeps them while the API is unreachable, removes one only after it
 * has been missing for the removal delay, and reports itself in DiscoveryStatuses.
 */
export function kubernetesMembersController(options: KubernetesMembersOptions = {}): Controller {
  const limits = { ...DEFAULT_LIMITS, requestTimeoutMs: options.requestTimeoutMs ?? 10_000, ...options.limits };
  return {
    name: 'KubernetesMembersController',
    inputs: () => [machineConfigInput(), ...serverChoiceInputs()],
    outputs: () => [outputOf(MemberType, 'shared'), outputOf(DiscoveryStatusType, 'shared')],
    async run(ctx) {
      let session: Session | undefined;
      let timer: NodeJS.Timeout | undefined;
      // Re-lists of sessions already closed, so the count survives a restart of the source.
      let pastRelists = 0;
      const debounce = new RemovalDebounce();
      const stop = async (): Promise<void> => {
        const closing = session;
        session = undefined;
        if (!closing) return;
        pastRelists += closing.watcher.snapshot().relists;
        await closing.watcher.close();
      };
      try {
        while (await ctx.nextEvent()) {
          ctx.startTrackingOutputs();
          clearTimeout(timer);
          const view = await readMachineConfig(ctx);
          const settings = view?.kubernetesDiscovery;
          if (!view || !settings) {
            // Switched off: its members are no longer anybody's knowledge; the cleanup removes them.
            if (session) ctx.logger.info('Kubernetes discovery disabled');
            await stop();
            debounce.reset();
            await writeStatus(ctx, { enabled: false, phase: 'disabled', members: 0, leaving: 0, relists: pastRelists });
            await ctx.cleanupOutputs(kindOf(MemberType), kindOf(DiscoveryStatusType));
            continue;
          }
          const next = await plan(ctx, view, settings);
          if ('waitingFor' in next) {
            await stop();
          } else if (session?.key !== JSON.stringify(next)) {
            await stop();
            session = startSession(ctx, next, limits, options);
          }
          const snapshot = session?.watcher.snapshot();
          const ours = (await ctx.list(kindOf(MemberType))).filter((m) => m.metadata.owner === ctx.name);
          const current = new Map<string, MemberSpec>(ours.map((m) => [m.metadata.id, m.spec]));
          const now = Date.now();
          const decision = debounce.decide(now, current, snapshot?.members, settings.removalDelayMs);
          const conflicts = await writeMembers(ctx, decision.members);
          if (decision.nextCheckAt !== undefined) {
            timer = setTimeout(() => ctx.trigger(), Math.max(1, decision.nextCheckAt - now + 1));
            timer.unref();
          }
          const previous = (await ctx.find(ptr(DiscoveryStatusType, KUBERNETES_DISCOVERY_ID)))?.spec;
          await writeStatus(ctx, {
            enabled: true,
            phase: 'waitingFor' in next ? 'waiting' : (snapshot?.phase ?? 'listing'),
            ...('waitingFor' in next ? { waitingFor: next.waitingFor } : {}),
            ...(session ? { server: session.server } : {}),
            ...sticky(snapshot, previous),
            members: snapshot?.members?.size ?? previous?.members ?? 0,
            leaving: decision.leaving.length,
            ...(conflicts.length > 0 ? { conflicts } : {}),
            relists: pastRelists + (snapshot?.relists ?? 0),
          });
          await ctx.cleanupOutputs(kindOf(MemberType), kindOf(DiscoveryStatusType));
        }
      } finally {
        clearTimeout(timer);
        await stop();
      }
    },
  };
}

function startSession(
  ctx: ControllerContext,
  key: SessionKey,
  limits: ClientLimits & { maxMembers: number },
  options: KubernetesMembersOptions,
): Session {
  const server = httpsURL(key.host, key.port);
  const watcher = new EndpointSliceWatcher({
    target: async () => {
      const credentials = await loadKubeconfig(key.kubeconfig);
      return { host: key.host, port: key.port, credentials, serverName: credentials.tlsServerName ?? key.fallbackServerName };
    },
    limits,
    watchTimeoutSeconds: options.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300),
    backoff: options.backoff ?? { initialMs: 1000, maxMs: 30_000, jitter: 0.2 },
    healthyAfterMs: options.healthyAfterMs ?? 30_000,
    logger: ctx.logger,
    onChange: () => ctx.trigger(),
  });
  ctx.logger.info({ server, kubeconfig: key.kubeconfig }, 'Kubernetes discovery starting');
  watcher.start();
  return { key: JSON.stringify(key), watcher, server };
}

/** The sync facts of the running session, else those of the last status (they outlive a restart of the source). */
function sticky(snapshot: SliceWatcherSnapshot | undefined, previous: DiscoveryStatusSpec | undefined): Partial<DiscoveryStatusSpec> {
  const lastSyncTime = snapshot?.lastSyncTime?.toISOString() ?? previous?.lastSyncTime;
  const resourceVersion = snapshot?.resourceVersion ?? previous?.resourceVersion;
  const error = snapshot?.lastError;
  const lastError = error ? { code: error.code, message: error.message, time: error.time.toISOString() } : previous?.lastError;
  return {
    ...(lastSyncTime !== undefined ? { lastSyncTime } : {}),
    ...(resourceVersion !== undefined ? { resourceVersion } : {}),
    ...(lastError !== undefined ? { lastError } : {}),
  };
}

/** Writes each member (a no-op when unchanged); returns the ids another source already holds. */
async function writeMembers(ctx: ControllerContext, members: ReadonlyMap<string, MemberSpec>): Promise<string[]> {
  const conflicts: string[] = [];
  for (const [id, spec] of members) {
    try {
      await ctx.modify(ptr(MemberType, id), (draft) => {
        draft.spec = spec;
        draft.labels[MEMBER_SOURCE_LABEL] = KUBERNETES_SOURCE;
      });
    } catch (err) {
      // A file or API member with this id (or one being torn down): theirs; never overwritten.
      if (!hasCode(err, 'KP_ERR_OWNER_CONFLICT') && !hasCode(err, 'KP_ERR_PHASE_CONFLICT')) throw err;
      conflicts.push(id);
    }
  }
  return conflicts;
}

async function writeStatus(ctx: ControllerContext, spec: DiscoveryStatusSpec): Promise<void> {
  await ctx.modify(ptr(DiscoveryStatusType, KUBERNETES_DISCOVERY_ID), (draft) => {
    draft.spec = spec;
  });
}
