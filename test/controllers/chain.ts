import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MachineConfigSource } from '../../src/agent/machine-config-source.js';
import { MembersSource } from '../../src/agent/members-source.js';
import { configChainControllers, type ConfigChainOptions } from '../../src/controllers/index.js';
import { registerKubeprismTypes } from '../../src/resources/index.js';
import { createState, Engine, silentLogger, type Controller, type State } from '../../src/runtime/index.js';

/** A state and engine running the given controllers, with the config and member sources wired in. */
export interface ChainHarness {
  state: State;
  engine: Engine;
  config: MachineConfigSource;
  members: MembersSource;
  outputDir: string;
  close(): Promise<void>;
}

/** Starts the controllers picked from the config chain (all by default) over a fresh state. */
export async function startChain(
  pick: (controllers: Controller[]) => Controller[] = (c) => c,
  options: Omit<ConfigChainOptions, 'outputDir'> = {},
): Promise<ChainHarness> {
  const outputDir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-out-'));
  const state = await createState();
  await registerKubeprismTypes(state);
  const engine = new Engine(state, { backoff: { initialMs: 10, maxMs: 100, multiplier: 2, jitter: 0 } });
  for (const controller of pick(configChainControllers({ outputDir, pkiDir: '/pki', ...options }))) engine.register(controller);
  engine.start();
  return {
    state,
    engine,
    config: new MachineConfigSource(state, silentLogger(), undefined),
    members: new MembersSource(state, silentLogger()),
    outputDir,
    async close() {
      await engine.stop();
      await rm(outputDir, { recursive: true, force: true });
    },
  };
}
