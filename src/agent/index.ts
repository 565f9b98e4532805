/** The node agent: state, controllers and config/member sources, run together (what `kubeprism run` and embedders use). */
export * from './agent.js';
export * from './machine-config-source.js';
export * from './members-source.js';
