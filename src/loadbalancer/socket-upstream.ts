import { formatAddress } from '../util/address.js';
import { runHealthCheck, type HealthCheckMode } from './health-check.js';
import type { Backend } from './upstream-list.js';
import type { ProxyUpstream, UpstreamStats } from './proxy-types.js';

/** Check settings shared by every upstream of one balancer (changed in place by `configure`). */
export interface CheckSettings {
  mode: HealthCheckMode;
  tlsServerName?: string;
}

/** A real upstream: a host:port that the list health-checks over sockets and the proxy dials. */
export class SocketUpstream implements Backend, ProxyUpstream {
  /** `host:port`, the identity across `setUpstreams` calls. */
  readonly key: string;
  readonly stats: UpstreamStats = { totalConnections: 0, dialFailures: 0, bytesIn: 0, bytesOut: 0 };

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly settings: CheckSettings,
  ) {
    this.key = formatAddress(host, port);
  }

  /** One check in the balancer's current mode. */
  healthCheck(signal: AbortSignal): Promise<void> {
    const { mode, tlsServerName } = this.settings;
    return runHealthCheck(
      mode,
      tlsServerName ? { host: this.host, port: this.port, tlsServerName } : { host: this.host, port: this.port },
      signal,
    );
  }
}
