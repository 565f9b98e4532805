import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Agent } from '../../src/agent/agent.js';
import { ApiServer, formatApiAddress, type ApiServerOptions } from '../../src/api/index.js';
import { v1alpha1Config } from '../harness/configs.js';

/** An in-process agent with its debug API on an ephemeral loopback port, and how to reach and stop it. */
export interface TestApi {
  readonly agent: Agent;
  readonly api: ApiServer;
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  /** `127.0.0.1:<port>`, as `--api` takes it. */
  readonly address: string;
  readonly dir: string;
  stop(): Promise<void>;
}

/** Secrets in the test config: none of them may ever appear in an API answer. */
export const CONFIG_SECRETS = [
  'q0n8zd.x7dzz3amm8ffhbhm',
  'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==',
  'LS0tLS1CRUdJTiBFRDI1NTE5IFBSSVZBVEUgS0VZLS0tLS0K',
  'z01mye6j16bspJYtTB/5SFX8j7Ahm2r5xvDxkMJh6Sw=',
];

/** Starts an agent on a v1alpha1 test config (KubePrism off: no balancer sockets) and the API in front of it. */
export async function startTestApi(options: Partial<Omit<ApiServerOptions, 'backend'>> = {}): Promise<TestApi> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-api-'));
  const configPath = path.join(dir, 'config.yaml');
  await writeFile(configPath, v1alpha1Config({ kubePrism: { enabled: false } }));
  const agent = await Agent.create({ configPath, stateDir: path.join(dir, 'state'), outputDir: path.join(dir, 'out') });
  let api: ApiServer | undefined;
  try {
    await agent.start();
    api = await ApiServer.listen({ backend: agent, address: '127.0.0.1:0', ...options });
  } catch (err) {
    await agent.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const address = formatApiAddress(api.address);
  const started = api;
  return {
    agent,
    api,
    base: `http://${address}`,
    address,
    dir,
    async stop() {
      await started.close();
      await agent.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A request with a deadline, so a wedged server fails the test instead of hanging it. */
export async function call(
  base: string,
  method: string,
  route: string,
  body?: string,
  contentType = 'application/json',
): Promise<{ status: number; text: string; json: () => unknown }> {
  const res = await fetch(`${base}${route}`, {
    method,
    ...(body !== undefined ? { body, headers: { 'content-type': contentType } } : {}),
    signal: AbortSignal.timeout(5_000),
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) as unknown };
}
