/** The node agent: state, controllers and config/member sources, run together (what `kubeprism run` and embedders use). */
export * from './agent.js';
export * from './config-file.js';
export * from './config-store.js';
export * from './machine-config-source.js';
export * from './members-source.js';
export * from './metrics-address.js';
