/** The resource/controller runtime: a COSI-like state and controller engine that knows nothing of Kubernetes. */
export * from './backoff.js';
export * from './controller.js';
export type { ControllerStats } from './controller-context.js';
export * from './core.js';
export * from './definition.js';
export * from './engine.js';
export * from './error-codes.js';
export * from './errors.js';
export * from './graph.js';
export * from './logger.js';
export * from './memory-core.js';
export * from './query.js';
export * from './queue-controller.js';
export * from './reconcile-controller.js';
export * from './registry.js';
export * from './resource.js';
export * from './state.js';
export * from './work-queue.js';
