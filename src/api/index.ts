/** The debug/control HTTP API (server and client) and its address rules. */
export * from './address.js';
export * from './body.js';
export * from './client.js';
export * from './http-errors.js';
export * from './server.js';
export type { ExternalType } from './resources.js';
export type { WatchLine } from './watch-stream.js';
export * from './metrics-server.js';
