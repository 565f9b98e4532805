import type { Agent } from '../../src/agent/agent.js';
import { ApiServer } from '../../src/api/index.js';

/** The running debug API of the demo. */
export interface DebugApiHandle {
  close(): Promise<void>;
}

/** Serves the demo agent on the debug API, so `kubeprism get …` works against it. */
export async function startDebugApi(agent: Agent, address: string): Promise<DebugApiHandle> {
  const api = await ApiServer.listen({ backend: agent, address, logger: agent.logger });
  return { close: () => api.close() };
}
