/**
 * kubeprism as a library: embed the agent in a node OS agent, or build on the runtime alone.
 * `Agent` runs everything; the rest is exported for embedders that compose their own.
 */
export * from './agent/index.js';
export * as runtime from './runtime/index.js';
export * as resources from './resources/index.js';
export * as controllers from './controllers/index.js';
export * as config from './config/index.js';
export * as loadbalancer from './loadbalancer/index.js';
export * as discovery from './discovery/index.js';
export { ApiServer, ApiClient, type ApiServerOptions, type ApiClientOptions } from './api/index.js';
