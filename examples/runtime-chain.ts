/**
 * The runtime on its own: two controllers deriving resources from resources, the way every kubeprism
 * controller works. Run with `npm run build && node dist/examples/runtime-chain.js`.
 */
import { z } from 'zod';
import { createState, defineResource, Engine, kindOf, ptr, transformController, type WatchEvent } from '../src/runtime/index.js';

const Temperatures = defineResource({
  type: 'Temperatures.example.kubeprism.dev',
  defaultNamespace: 'example',
  schema: z.object({ celsius: z.number() }),
});
const Readings = defineResource({
  type: 'Readings.example.kubeprism.dev',
  defaultNamespace: 'example',
  schema: z.object({ fahrenheit: z.number() }),
});
const Alerts = defineResource({
  type: 'Alerts.example.kubeprism.dev',
  defaultNamespace: 'example',
  schema: z.object({ message: z.string() }),
});

const state = await createState();
for (const def of [Temperatures, Readings, Alerts]) await state.registerType(def);

const engine = new Engine(state);
engine.register(
  transformController({
    name: 'ReadingController',
    input: Temperatures,
    output: Readings,
    map: (_ctx, t) => ({ fahrenheit: Math.round((t.spec.celsius * 9) / 5 + 32) }),
  }),
);
engine.register(
  transformController({
    name: 'AlertController',
    input: Readings,
    output: Alerts,
    // No output when nothing is wrong: the engine destroys the alert once the reading is fine again.
    map: (_ctx, r) => (r.spec.fahrenheit > 100 ? { message: `${r.metadata.id} is hot: ${r.spec.fahrenheit} °F` } : undefined),
  }),
);
engine.start();

const show = (e: WatchEvent<{ message: string }>): void => {
  if (e.type === 'updated' && e.resource.metadata.phase === 'tearingDown') return;
  if (e.type === 'created' || e.type === 'updated') console.log(`alert ${e.type}: ${e.resource.spec.message}`);
  if (e.type === 'destroyed') console.log(`alert cleared: ${e.resource.metadata.id}`);
};
const subscription = state.watchKind(kindOf(Alerts)).subscribe(show);

for (const celsius of [21, 45, 60, 20]) {
  console.log(`set kitchen to ${celsius} °C`);
  await state.modify(ptr(Temperatures, 'kitchen'), (d) => void (d.spec.celsius = celsius), { initialSpec: { celsius } });
  const fahrenheit = Math.round((celsius * 9) / 5 + 32);
  await state.watchFor(ptr(Readings, 'kitchen'), (r) => r?.spec.fahrenheit === fahrenheit);
  // Wait for the second controller to catch up: an alert with this reading, or none when it is fine.
  await state.watchFor(ptr(Alerts, 'kitchen'), (a) =>
    fahrenheit > 100 ? a?.spec.message.endsWith(`${fahrenheit} °F`) === true : a === undefined,
  );
}
console.log('graph:', JSON.stringify(engine.graph().edges.map((e) => `${e.from} -> ${e.to}`)));
subscription.unsubscribe();
await engine.stop();
