import { z } from 'zod';
import { createState, defineResource, InMemoryCore } from '../../src/runtime/index.js';
import { stateConformance } from './state-conformance.js';

const Things = defineResource({
  type: 'Things.test.kubeprism.dev',
  defaultNamespace: 'test',
  schema: z.object({ value: z.string() }),
});

stateConformance('InMemoryCore', async ({ historyCapacity }) => ({
  core: new InMemoryCore({ historyCapacity }),
  kind: { namespace: 'test', type: Things.type },
}));

stateConformance('State (validating wrapper over InMemoryCore)', async ({ historyCapacity }) => {
  const state = await createState({ historyCapacity });
  await state.registerType(Things);
  return { core: state, kind: { namespace: 'test', type: Things.type } };
});
