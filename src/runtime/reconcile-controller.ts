import { inputOf, outputOf, type Controller, type ControllerContext, type ControllerInput, type ControllerOutput } from './controller.js';
import { KubeprismError } from './errors.js';
import { kindOf, ptr, type ResourceDefinition } from './definition.js';
import type { Resource, ResourceKind } from './resource.js';

/** Thrown by a reconcile to say "a dependency is missing; wait for the next event" — not a failure. */
export class SkipReconcile extends KubeprismError {
  constructor(reason: string) {
    super('KP_SKIP', reason);
  }
}

/** Ends this round quietly until the next event (see {@link SkipReconcile}). */
export function skip(reason: string): never {
  throw new SkipReconcile(reason);
}

/** Declaration of a level-triggered controller that rewrites its outputs from scratch each round. */
export interface ReconcileControllerSpec {
  readonly name: string;
  readonly inputs: readonly ControllerInput[];
  readonly outputs: readonly ControllerOutput[];
  /** One round. Outputs not written in it are destroyed afterwards (unless `cleanup` is false). */
  reconcile(ctx: ControllerContext): Promise<void>;
  /** Which output kinds to clean up after a round; defaults to every output in its default namespace. */
  readonly cleanup?: readonly ResourceKind[] | false;
}

/** Builds a controller from one reconcile function: track outputs, reconcile, destroy what was not written. */
export function reconcileController(spec: ReconcileControllerSpec): Controller {
  return {
    name: spec.name,
    inputs: () => spec.inputs,
    outputs: () => spec.outputs,
    async run(ctx) {
      while (await ctx.nextEvent()) {
        ctx.startTrackingOutputs();
        try {
          await spec.reconcile(ctx);
        } catch (err) {
          if (err instanceof SkipReconcile) {
            ctx.logger.debug({ reason: err.message }, 'skipping until the next event');
            continue;
          }
          throw err;
        }
        if (spec.cleanup !== false) await ctx.cleanupOutputs(...(spec.cleanup ?? []));
      }
    },
  };
}

/** Declaration of a one-to-one derivation: every input resource maps to at most one output resource. */
export interface TransformControllerSpec<I, O> {
  readonly name: string;
  readonly input: ResourceDefinition<I>;
  readonly output: ResourceDefinition<O>;
  /** Other inputs the mapping reads (woken by them too). */
  readonly extraInputs?: readonly ControllerInput[];
  /** The output id for an input (default: the same id). */
  outputId?(input: Resource<I>): string;
  /** The output spec, or undefined for "no output for this input". May throw SkipReconcile. */
  map(ctx: ControllerContext, input: Resource<I>): Promise<O | undefined> | O | undefined;
}

/** Builds a controller deriving one output per input; outputs whose input vanished are destroyed. */
export function transformController<I, O>(spec: TransformControllerSpec<I, O>): Controller {
  return reconcileController({
    name: spec.name,
    inputs: [inputOf(spec.input), ...(spec.extraInputs ?? [])],
    outputs: [outputOf(spec.output)],
    async reconcile(ctx) {
      for (const input of await ctx.list(kindOf(spec.input))) {
        if (input.metadata.phase === 'tearingDown') continue;
        const out = await spec.map(ctx, input);
        if (out === undefined) continue;
        await ctx.modify(ptr(spec.output, spec.outputId ? spec.outputId(input) : input.metadata.id), (draft) => {
          draft.spec = out as typeof draft.spec;
        });
      }
    },
  });
}
