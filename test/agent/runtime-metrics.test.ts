import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { registerControllerMetrics } from '../../src/agent/runtime-metrics.js';
import {
  createState,
  defineResource,
  Engine,
  kindOf,
  outputOf,
  ptr,
  queueController,
  reconcileController,
} from '../../src/runtime/index.js';
import { eventuallyResource } from '../harness/eventually.js';

const Ints = defineResource({ type: 'Ints.test.kubeprism.dev', defaultNamespace: 'test', schema: z.object({ value: z.number() }) });
const Strs = defineResource({ type: 'Strs.test.kubeprism.dev', defaultNamespace: 'test', schema: z.object({ value: z.string() }) });
const Logs = defineResource({ type: 'Logs.test.kubeprism.dev', defaultNamespace: 'test', schema: z.object({}) });

let engine: Engine | undefined;
afterEach(async () => engine?.stop());

describe('controller metrics', () => {
  it('exports every controller counter, and queue counters for queue-based controllers only', async () => {
    const state = await createState();
    for (const def of [Ints, Strs, Logs]) await state.registerType(def);
    engine = new Engine(state);
    engine.register(
      queueController({
        name: 'QueueController',
        primary: kindOf(Ints),
        outputs: [outputOf(Strs)],
        reconcile: async (ctx, item, int) => void (int && (await ctx.modify(ptr(Strs, item.id), (d) => void (d.spec.value = 'x')))),
      }),
    );
    engine.register(
      reconcileController({ name: 'PlainController', inputs: [], outputs: [outputOf(Logs)], reconcile: async () => undefined }),
    );
    engine.start();
    await state.create({ metadata: ptr(Ints, 'a'), spec: { value: 1 } });
    await eventuallyResource(state, ptr(Strs, 'a'), (r) => expect(r).toBeDefined());
    await engine.settled();
    const registry = new Registry();
    registerControllerMetrics(registry, engine);
    const text = await registry.metrics();
    expect(text).toContain('kubeprism_controller_queue_processed_total{controller="QueueController"} 1');
    expect(text).toContain('kubeprism_controller_queue_length{controller="QueueController"} 0');
    expect(text).not.toContain('kubeprism_controller_queue_processed_total{controller="PlainController"}');
    expect(text).toMatch(/kubeprism_controller_wakeups_total\{controller="PlainController"\} 1\n/);
    expect(text).toMatch(/kubeprism_controller_writes_total\{controller="QueueController"\} 1\n/);
  });
});
