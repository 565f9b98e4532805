import type { ControllerContext } from './controller.js';
import type { Logger } from './logger.js';
import type { QueueItemContext } from './queue-controller.js';
import type { ResourceQuery } from './query.js';
import type { NewResource, Resource, ResourcePointer, TypedKind } from './resource.js';
import type { ModifyDraft, ModifyOptions } from './state.js';

/** One item's view of a queue controller's context: the same reads and writes, with its writes recorded. */
export class ItemContext implements QueueItemContext {
  readonly name: string;
  readonly logger: Logger;
  readonly signal: AbortSignal;

  constructor(
    private readonly ctx: ControllerContext,
    readonly item: ResourcePointer,
    private readonly wrote: (output: ResourcePointer) => void,
  ) {
    this.name = ctx.name;
    this.logger = ctx.logger;
    this.signal = ctx.signal;
  }

  get<S>(ptr: ResourcePointer<S>): Promise<Resource<S>> {
    return this.ctx.get(ptr);
  }

  find<S>(ptr: ResourcePointer<S>): Promise<Resource<S> | undefined> {
    return this.ctx.find(ptr);
  }

  list<S>(kind: TypedKind<S>, query?: ResourceQuery): Promise<Array<Resource<S>>> {
    return this.ctx.list(kind, query);
  }

  async create<S>(res: NewResource<S>): Promise<Resource<S>> {
    const created = await this.ctx.create(res);
    this.wrote(res.metadata);
    return created;
  }

  async update<S>(res: Resource<S>): Promise<Resource<S>> {
    const updated = await this.ctx.update(res);
    this.wrote(res.metadata);
    return updated;
  }

  async modify<S>(
    ptr: ResourcePointer<S>,
    mutate: (draft: ModifyDraft<S>) => void,
    options?: Omit<ModifyOptions<S>, 'owner'>,
  ): Promise<Resource<S>> {
    const result = await this.ctx.modify(ptr, mutate, options);
    this.wrote(ptr);
    return result;
  }

  destroy(ptr: ResourcePointer): Promise<void> {
    return this.ctx.destroy(ptr);
  }

  teardown(ptr: ResourcePointer): Promise<boolean> {
    return this.ctx.teardown(ptr);
  }

  teardownAndDestroy(ptr: ResourcePointer, options?: { readonly signal?: AbortSignal }): Promise<boolean> {
    return this.ctx.teardownAndDestroy(ptr, options);
  }

  teardownAndDestroyIfReady(ptr: ResourcePointer): Promise<boolean> {
    return this.ctx.teardownAndDestroyIfReady(ptr);
  }

  addFinalizer(ptr: ResourcePointer, ...finalizers: string[]): Promise<Resource> {
    return this.ctx.addFinalizer(ptr, ...finalizers);
  }

  removeFinalizer(ptr: ResourcePointer, ...finalizers: string[]): Promise<Resource> {
    return this.ctx.removeFinalizer(ptr, ...finalizers);
  }
}
