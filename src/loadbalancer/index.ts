/** The node-local Kubernetes API load balancer as a library: policy, health checks, proxy, metrics. */
export { LoadBalancer, type LoadBalancerDeps } from './load-balancer.js';
export { LoadBalancerMetrics, type LoadBalancerMetricsOptions, type MetricsSource } from './metrics.js';
export {
  LOAD_BALANCER_DEFAULTS,
  loadBalancerOptionsSchema,
  parseLoadBalancerOptions,
  parseUpstreamEndpoints,
  upstreamEndpointSchema,
  type LoadBalancerOptions,
  type LoadBalancerOptionsInput,
  type UpstreamEndpoint,
} from './options.js';
export {
  balancerSettingsSchema,
  BALANCER_DEFAULTS,
  DEFAULT_LISTEN_PORT,
  HEALTH_CHECK_MODES,
  settingForms,
  type BalancerSettings,
  type BalancerSettingsInput,
  type SettingForm,
} from './settings.js';
export type { LoadBalancerSnapshot, UpstreamSnapshot } from './snapshot.js';
export type { ListenerState, ListenTarget } from './listener.js';
export { ClosedError, HealthCheckError, ListenError, NoUpstreamsError, NotLoopbackError, TimeoutError } from './errors.js';
export { formatAddress, isLoopbackIp } from '../util/address.js';
export { latencyTier, tierLabel, TIER_BOUNDS_MS, WORST_TIER } from './tier.js';
export {
  UpstreamList,
  type Backend,
  type CheckResult,
  type HealthCheckTiming,
  type UpstreamChange,
  type UpstreamListOptions,
  type UpstreamState,
} from './upstream-list.js';
export { runHealthCheck, checkReadyz, checkTcp, checkTls, type HealthCheckMode, type HealthCheckTarget } from './health-check.js';
export { systemClock, type Clock, type TimerHandle } from './clock.js';
