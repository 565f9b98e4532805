/**
 * Embedding kubeprism in a node agent: create the agent, apply a machine config, watch KubePrism's
 * status, stop. Run with `npm run build && node dist/examples/embedding.js`.
 *
 * A real embedder imports from 'kubeprism'; inside this repository we import the sources.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Agent, resources, runtime } from '../src/index.js';

// A free loopback port for the balancer, and a cluster endpoint on loopback that nobody answers:
// the example must not reach out to any real network.
const port = await new Promise<number>((resolve) => {
  const probe = createServer().listen(0, '127.0.0.1', () => {
    const { port: p } = probe.address() as { port: number };
    probe.close(() => resolve(p));
  });
});
const dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-embed-'));

const agent = await Agent.create({
  stateDir: path.join(dir, 'state'),
  outputDir: path.join(dir, 'kubeconfigs'),
  logger: runtime.createLogger({ level: 'warn' }),
});
await agent.start();

const statuses = agent.state.watchKind(runtime.kindOf(resources.KubePrismStatusType), { bootstrap: true }).subscribe((event) => {
  if (event.type === 'created' || event.type === 'updated') {
    const { host, listening, healthy, error } = event.resource.spec;
    console.log(`KubePrism ${host}: listening=${listening} healthy=${healthy}${error ? ` (${error})` : ''}`);
  }
});

const result = await agent.applyConfig(`
version: v1alpha1
machine:
  type: worker
  features:
    kubePrism: {enabled: true, port: ${port}, healthCheck: {mode: tcp, interval: 1s, timeout: 500ms}}
cluster:
  controlPlane: {endpoint: "https://127.0.0.1:9"}
`);
console.log('apply:', result);

// A bad config is rejected with paths; the one in force stays.
console.log(
  'bad apply:',
  await agent.applyConfig('version: v1alpha1\nmachine: {type: worker}\ncluster: {controlPlane: {endpoint: "http://x"}}\n'),
);

await agent.state.watchFor(runtime.ptr(resources.KubePrismStatusType, resources.KUBEPRISM_STATUS_ID), (s) => s?.spec.listening === true);
statuses.unsubscribe();
await agent.stop();
await rm(dir, { recursive: true, force: true });
console.log('stopped');
