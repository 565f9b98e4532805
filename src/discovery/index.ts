// Kubernetes discovery: the API servers listed in the `default/kubernetes` EndpointSlices, as members.
export * from './endpoint-slice-client.js';
export * from './endpoint-slices.js';
export * from './errors.js';
export * from './kubeconfig.js';
export * from './removal-debounce.js';
export * from './slice-watcher.js';
