/**
 * Every stable error code the project uses, with what it means. The runtime is the base every layer
 * builds on, so this one table also names the codes of the layers above it (config, load balancer,
 * discovery, API, agent, CLI): `KubeprismError` accepts only these, which turns a typo into a compile
 * error. The string values are a public contract (the API answers them, scripts match on them): never
 * change one, only add.
 */
export const ERROR_CODES = {
  // The runtime: state, registry and controllers.
  KP_ERR_NOT_FOUND: 'the resource, type or route asked for does not exist',
  KP_ERR_CONFLICT: 'the write lost a race or contradicts the stored state (exists, stale version, pending finalizers)',
  KP_ERR_OWNER_CONFLICT: 'the resource belongs to another owner than the one writing it',
  KP_ERR_PHASE_CONFLICT: 'the resource is in a phase that does not allow this write',
  KP_ERR_VALIDATION: 'a write or an option failed validation; issues name each offending path',
  KP_ERR_UNKNOWN_TYPE: 'a type name matches no registered resource definition',
  KP_ERR_AMBIGUOUS_TYPE: 'a type name matches more than one resource definition',
  KP_ERR_ACCESS_DENIED: 'a controller touched a resource it did not declare as input or output',
  KP_ERR_REGISTRATION: 'a definition, namespace or controller could not be registered',
  KP_ERR_WATCH_OVERRUN: 'a watcher fell further behind than the event history holds; list and watch again',
  KP_ERR_BOOKMARK_EXPIRED:
    'a watch bookmark cannot be honoured (fell out of the history, another store instance or kind, malformed); list again',
  KP_SKIP: 'not a failure: a reconcile skipped until the next event (a dependency is missing)',
  KP_REQUEUE: 'not a failure unless a cause is attached: a queue item asks to be reconciled again later',
  // Machine config and members file.
  KP_ERR_INVALID_CONFIG: 'a machine config or members file was rejected; issues list every problem',
  KP_ERR_MEMBERS_FILE_UNREADABLE: 'the members file cannot be read',
  // The load balancer.
  KP_ERR_NO_UPSTREAMS: 'no upstream could be reached for a client connection',
  KP_ERR_LISTEN: 'the balancer could not bind its listen address',
  KP_ERR_NOT_LOOPBACK: 'a balancer listen address is not a loopback IP',
  KP_ERR_HEALTH_CHECK: 'an upstream health check failed',
  KP_ERR_TIMEOUT: 'an operation of the balancer did not finish in time',
  KP_ERR_CLOSED: 'the balancer (or the part asked) is closed',
  KP_ERR_ILLEGAL_TRANSITION: 'a proxied connection got an event its state does not allow (a bug)',
  // Kubernetes discovery.
  KP_ERR_DISCOVERY_CREDENTIALS: 'the discovery kubeconfig is missing, unreadable or unsupported',
  KP_ERR_DISCOVERY_UNREACHABLE: 'the discovery source could not connect',
  KP_ERR_DISCOVERY_TLS: 'the discovery TLS handshake failed',
  KP_ERR_DISCOVERY_TIMEOUT: 'the discovery request got no answer (or no progress) in time',
  KP_ERR_DISCOVERY_UNAUTHORIZED: 'the discovery credentials were refused (401/403)',
  KP_ERR_DISCOVERY_HTTP: 'the discovery request got another non-200 answer',
  KP_ERR_DISCOVERY_GONE: 'the discovery resourceVersion is too old (410); re-list',
  KP_ERR_DISCOVERY_WATCH_ERROR: 'the discovery watch sent an ERROR event other than 410',
  KP_ERR_DISCOVERY_WATCH_BROKEN: 'the discovery watch stream ended abnormally',
  KP_ERR_DISCOVERY_BAD_RESPONSE: 'the discovery answer was not the expected JSON',
  KP_ERR_DISCOVERY_LIMIT: 'a discovery body, line or object count went beyond its bound',
  // The debug API (server and client).
  KP_ERR_BAD_REQUEST: 'the request is malformed',
  KP_ERR_BODY_TOO_LARGE: 'the request body is larger than allowed',
  KP_ERR_FORBIDDEN: 'the resource may not be written through the API (a controller owns it)',
  KP_ERR_METHOD_NOT_ALLOWED: 'the method is not allowed on this route',
  KP_ERR_INTERNAL: 'an internal error; see the agent log',
  KP_ERR_SLOW_CONSUMER: 'a watch client read too slowly and its stream was ended',
  KP_ERR_SHUTTING_DOWN: 'the agent is shutting down',
  KP_ERR_API_ADDRESS: 'an API address is malformed',
  KP_ERR_API_NOT_LOOPBACK: 'an API address is neither loopback nor a unix socket',
  KP_ERR_UNREACHABLE: 'the agent could not be reached',
  KP_ERR_METRICS_ADDRESS: 'a metrics listener address is malformed (an IP and port are needed)',
  KP_ERR_METRICS_LISTEN: 'the metrics listener could not bind its address (taken, not on this host, not permitted)',
  KP_ERR_BAD_RESPONSE: 'the agent answered something the client does not understand',
  // Components' kubeconfigs: adopted files and credential profiles.
  KP_ERR_KUBECONFIG_MISSING: 'an adopted kubeconfig does not exist',
  KP_ERR_KUBECONFIG_UNREADABLE: 'an adopted kubeconfig cannot be read (permissions, a directory, too large)',
  KP_ERR_KUBECONFIG_INVALID: 'an adopted kubeconfig is not YAML or not a kubeconfig',
  KP_ERR_KUBECONFIG_NO_CONTEXT: 'an adopted kubeconfig has no current context, or names one that is not there',
  KP_ERR_KUBECONFIG_NO_CLUSTER: "an adopted kubeconfig's current context names a cluster that is not there",
  KP_ERR_KUBECONFIG_SERVER: "an adopted kubeconfig's server is not an https URL kubeprism can stand in for",
  KP_ERR_CREDENTIAL_PROFILE: 'a credential profile and its path overrides do not add up (a certificate without its key)',
  // The agent and the command line.
  KP_ERR_AGENT_START: 'the agent could not start',
  KP_ERR_CLI_EXIT: 'the command ends with a message and an exit status',
} as const;

/** One of the known, stable error codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * The codes of expected operational conditions (bad input, a peer that misbehaves, a port taken, a
 * timeout, a lost race): logged with their message and code, no stack. Every other code is a bug's
 * (KP_ERR_INTERNAL, KP_ERR_ACCESS_DENIED, KP_ERR_ILLEGAL_TRANSITION, a controller's own invalid write…)
 * and keeps its stack.
 */
export const OPERATIONAL_ERROR_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'KP_ERR_NOT_FOUND',
  'KP_ERR_CONFLICT',
  'KP_ERR_UNKNOWN_TYPE',
  'KP_ERR_AMBIGUOUS_TYPE',
  'KP_ERR_WATCH_OVERRUN',
  'KP_ERR_BOOKMARK_EXPIRED',
  'KP_ERR_INVALID_CONFIG',
  'KP_ERR_MEMBERS_FILE_UNREADABLE',
  'KP_ERR_NO_UPSTREAMS',
  'KP_ERR_LISTEN',
  'KP_ERR_NOT_LOOPBACK',
  'KP_ERR_HEALTH_CHECK',
  'KP_ERR_TIMEOUT',
  'KP_ERR_CLOSED',
  'KP_ERR_DISCOVERY_CREDENTIALS',
  'KP_ERR_DISCOVERY_UNREACHABLE',
  'KP_ERR_DISCOVERY_TLS',
  'KP_ERR_DISCOVERY_TIMEOUT',
  'KP_ERR_DISCOVERY_UNAUTHORIZED',
  'KP_ERR_DISCOVERY_HTTP',
  'KP_ERR_DISCOVERY_GONE',
  'KP_ERR_DISCOVERY_WATCH_ERROR',
  'KP_ERR_DISCOVERY_WATCH_BROKEN',
  'KP_ERR_DISCOVERY_BAD_RESPONSE',
  'KP_ERR_DISCOVERY_LIMIT',
  'KP_ERR_BAD_REQUEST',
  'KP_ERR_BODY_TOO_LARGE',
  'KP_ERR_FORBIDDEN',
  'KP_ERR_METHOD_NOT_ALLOWED',
  'KP_ERR_SLOW_CONSUMER',
  'KP_ERR_SHUTTING_DOWN',
  'KP_ERR_API_ADDRESS',
  'KP_ERR_API_NOT_LOOPBACK',
  'KP_ERR_UNREACHABLE',
  'KP_ERR_BAD_RESPONSE',
  'KP_ERR_METRICS_ADDRESS',
  'KP_ERR_METRICS_LISTEN',
  'KP_ERR_AGENT_START',
  'KP_ERR_KUBECONFIG_MISSING',
  'KP_ERR_KUBECONFIG_UNREADABLE',
  'KP_ERR_KUBECONFIG_INVALID',
  'KP_ERR_KUBECONFIG_NO_CONTEXT',
  'KP_ERR_KUBECONFIG_NO_CLUSTER',
  'KP_ERR_KUBECONFIG_SERVER',
  'KP_ERR_CREDENTIAL_PROFILE',
]);

/** True when `code` is one of {@link ERROR_CODES} (for codes read from the wire). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}
