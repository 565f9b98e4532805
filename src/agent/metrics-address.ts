import { parseListenAddress, type ListenAddress } from '../config/index.js';
import { MACHINE_CONFIG_ID, MachineConfigType } from '../resources/index.js';
import { ptr, type Logger, type State } from '../runtime/index.js';

/** What serves the metrics: the API package's MetricsServer, kept apart by this interface. */
export interface MetricsListener {
  /** Serves on `address` from now on (undefined: off); an address that cannot be bound is retried. */
  serve(address: ListenAddress | undefined): Promise<void>;
}

/** A running follower; `close` stops following (the listener is left as it is). */
export interface MetricsAddressFollower {
  close(): void;
}

/**
 * Moves the metrics listener to the machine config's `metricsAddress` whenever it changes (off when the
 * config has none). `--metrics-address` (`flag`) wins over the config: with it, the config's address is
 * only reported as ignored in the log, once per value.
 */
export function followMetricsAddress(
  state: State,
  options: { readonly listener: MetricsListener; readonly flag?: string; readonly logger: Logger },
): MetricsAddressFollower {
  const { listener, flag, logger } = options;
  let current: string | undefined;
  let warned: string | undefined;
  const subscription = state.watch(ptr(MachineConfigType, MACHINE_CONFIG_ID)).subscribe((event) => {
    // A destroyed or tearing-down config leaves the listener as it is: only a config says where it goes.
    if ((event.type !== 'created' && event.type !== 'updated') || event.resource.metadata.phase === 'tearingDown') return;
    const wanted = event.resource.spec.view.metricsAddress;
    if (flag !== undefined) {
      if (wanted !== undefined && wanted !== warned) {
        logger.warn({ config: wanted, flag }, 'metricsAddress in the machine config is ignored: --metrics-address wins');
      }
      warned = wanted;
      return;
    }
    if (wanted === current) return;
    current = wanted;
    logger.info({ address: wanted ?? 'off' }, 'metrics listener follows the machine config');
    listener.serve(wanted === undefined ? undefined : parseListenAddress(wanted)).catch((err: unknown) => {
      logger.error({ err, address: wanted }, 'cannot serve metrics on the machine config address');
    });
  });
  return { close: () => subscription.unsubscribe() };
}
