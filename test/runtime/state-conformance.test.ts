import { z } from 'zod';
import { createState, defineResource, InMemoryCore } from '../../src/runtime/index.js';
import { stateConformance, type ConformanceFactory } from './state-conformance.js';
import { watchConformance } from './watch-conformance.js';

const Things = defineResource({
  type: 'Things.test.kubeprism.dev',
  defaultNamespace: 'test',
  schema: z.object({ value: z.string() }),
});

const inMemory: ConformanceFactory = async ({ historyCapacity }) => ({
  core: new InMemoryCore({ historyCapacity }),
  kind: { namespace: 'test', type: Things.type },
});

const validating: ConformanceFactory = async ({ historyCapacity }) => {
  const state = await createState({ historyCapacity });
  await state.registerType(Things);
  return { core: state, kind: { namespace: 'test', type: Things.type } };
};

stateConformance('InMemoryCore', inMemory);
watchConformance('InMemoryCore', inMemory);
stateConformance('State (validating wrapper over InMemoryCore)', validating);
watchConformance('State (validating wrapper over InMemoryCore)', validating);
