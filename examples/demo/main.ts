/**
 * `npm start`: three fake Kubernetes API servers (TLS, on 127.0.0.11-13) and the kubeprism agent in
 * front of them on 127.0.0.1:7445, with a live status view (within the terminal's width, 80 columns when
 * unknown). Press 1/2/3 to stop or restart a server, q (or Ctrl-C) to quit; keys typed fast or pasted
 * all count. KUBEPRISM_DEMO_PORT and KUBEPRISM_DEMO_API move it (a taken port is reported with the
 * variable to set); KUBEPRISM_DEMO_SECONDS=N quits by itself after N seconds.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent as HttpsAgent, request } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Agent } from '../../src/agent/agent.js';
import { KUBEPRISM_ENDPOINTS_ID, KUBEPRISM_STATUS_ID, KubePrismEndpointsType, KubePrismStatusType } from '../../src/resources/index.js';
import { ptr } from '../../src/runtime/index.js';
import { FakeApiServer } from '../../test/harness/fake-apiserver.js';
import { startDebugApi, type DebugApiHandle } from './debug-api.js';
import { fit, formatStatus, readDemoStatus, type DemoServer } from './status-view.js';
import { probePort, splitKeys, suggestPort } from './terminal.js';

const PORT_TEXT = process.env.KUBEPRISM_DEMO_PORT ?? '7445';
const KUBEPRISM_PORT = Number(PORT_TEXT);
const API_ADDRESS = process.env.KUBEPRISM_DEMO_API ?? '127.0.0.1:7446';
const interactive = process.stdout.isTTY === true && process.stdin.isTTY === true;

// The balancer's port is the point of the demo: when it cannot be had, say so and what to set, and stop
// before starting anything (a taken port would leave the demo client talking to somebody else's socket).
if (!/^\d{1,5}$/.test(PORT_TEXT) || KUBEPRISM_PORT < 1 || KUBEPRISM_PORT > 65535) {
  process.stderr.write(`kubeprism demo: KUBEPRISM_DEMO_PORT=${PORT_TEXT} is not a port (1-65535)\n`);
  process.exit(1);
}
const portProblem = await probePort('127.0.0.1', KUBEPRISM_PORT);
if (portProblem !== undefined) {
  const why =
    portProblem === 'EADDRINUSE' ? 'is taken (another kubeprism, or a demo still running?)' : `cannot be listened on (${portProblem})`;
  process.stderr.write(
    `kubeprism demo: 127.0.0.1:${KUBEPRISM_PORT} ${why}.\n` +
      `Set KUBEPRISM_DEMO_PORT to a free port, e.g.: KUBEPRISM_DEMO_PORT=${await suggestPort('127.0.0.1')} npm start\n`,
  );
  process.exit(1);
}

let stopping = false;
const dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-demo-'));
// Different distances, so the tiers show: the balancer prefers the closest healthy one.
const servers = await Promise.all([
  FakeApiServer.start({ name: 'external-lb', host: '127.0.0.11', latencyMs: 40 }),
  FakeApiServer.start({ name: 'cp-1', host: '127.0.0.12', latencyMs: 4 }),
  FakeApiServer.start({ name: 'cp-2', host: '127.0.0.13', latencyMs: 15 }),
]);
const [external, cp1, cp2] = servers;

const configPath = path.join(dir, 'machine-config.yaml');
await writeFile(
  configPath,
  `# A worker node whose cluster endpoint is an (emulated) external load balancer.
version: v1alpha1
machine:
  type: worker
  token: demo.0123456789abcdef
  features:
    kubePrism:
      enabled: true
      port: ${KUBEPRISM_PORT}
      healthCheck: {mode: readyz, interval: 1s, timeout: 500ms, jitter: 0.2}
cluster:
  clusterName: demo
  controlPlane:
    endpoint: https://127.0.0.11:${external.port}
`,
);
const membersPath = path.join(dir, 'members.yaml');
await writeFile(
  membersPath,
  `members:
  - {id: cp-1, hostname: cp-1, machineType: controlplane, addresses: [127.0.0.12], controlPlane: {apiServerPort: ${cp1.port}}}
  - {id: cp-2, hostname: cp-2, machineType: controlplane, addresses: [127.0.0.13], controlPlane: {apiServerPort: ${cp2.port}}}
`,
);

const agent = await Agent.create({
  configPath,
  membersPath,
  stateDir: path.join(dir, 'state'),
  outputDir: path.join(dir, 'kubeconfigs'),
  balancer: { connectionRefreshMs: 1000, drainTimeoutMs: 1000 },
});
await agent.start();
let api: DebugApiHandle | undefined;
let apiProblem: string[] = [];
try {
  api = await startDebugApi(agent, API_ADDRESS);
} catch (err) {
  // The demo runs without its debug API; only `kubeprism get` needs it, so say how to get it back.
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'EADDRINUSE' ? 'is taken' : `cannot be used: ${(err as Error).message}`;
  apiProblem = [
    `  kubeprism get needs the debug API, and ${API_ADDRESS} ${why};`,
    `  restart with KUBEPRISM_DEMO_API=127.0.0.1:${await suggestPort('127.0.0.1')} to have it`,
  ];
}

// A client on the node, like the kubelet: a few kept-alive connections through KubePrism.
const traffic = { ok: 0, failed: 0, lastAnswer: '' };
// Two long-lived connections (like watches) and one new connection per tick (like a restarting client).
const clientAgent = new HttpsAgent({ keepAlive: true, maxSockets: 2, rejectUnauthorized: false });
const sendRequest = (fresh: boolean): void => {
  const agentOption = fresh ? { agent: false as const, rejectUnauthorized: false } : { agent: clientAgent };
  const req = request({ host: '127.0.0.1', port: KUBEPRISM_PORT, path: '/version', timeout: 2000, ...agentOption }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (body += chunk));
    res.on('end', () => {
      traffic.ok++;
      if (!fresh) return;
      try {
        traffic.lastAnswer = (JSON.parse(body) as { name: string }).name;
      } catch {
        traffic.lastAnswer = '(unreadable)';
      }
    });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => traffic.failed++);
  req.end();
};
let load: NodeJS.Timeout | undefined;
// Like the kubelet, the client starts once KubePrism listens and has judged its upstreams.
void agent.state
  .watchFor(ptr(KubePrismStatusType, KUBEPRISM_STATUS_ID), (s) => s?.spec.listening === true && s.spec.healthy)
  .then(() => new Promise((resolve) => setTimeout(resolve, 2500)))
  .then(() => {
    if (stopping) return;
    load = setInterval(() => {
      sendRequest(false);
      sendRequest(false);
      sendRequest(true);
    }, 300);
  });

const describeServers = (): DemoServer[] =>
  servers.map((s, i) => ({ key: String(i + 1), label: s.name, address: `${s.host}:${s.port}`, running: s.running }));

/** What to try, only what can work now: curl once KubePrism listens, kubeprism get once the debug API does. */
const tips = (listening: boolean): string[] => [
  '',
  'Try it:',
  listening
    ? `  curl -k https://127.0.0.1:${KUBEPRISM_PORT}/version   (the best healthy server answers)`
    : `  (curl https://127.0.0.1:${KUBEPRISM_PORT} once KubePrism listens)`,
  ...(api ? [`  npx kubeprism get kps --api ${API_ADDRESS}`, '  (also: get kpu -o wide, get kpe, dump, graph)'] : apiProblem),
  interactive
    ? '  press 1, 2 or 3 to stop/restart that server, q to quit'
    : '  (not a terminal: the status every few seconds; Ctrl-C to quit)',
];

let rendering = false;
const render = async (): Promise<void> => {
  if (rendering) return;
  rendering = true;
  try {
    const endpoints = (await agent.state.find(ptr(KubePrismEndpointsType, KUBEPRISM_ENDPOINTS_ID)))?.spec.endpoints ?? [];
    const data = await readDemoStatus(agent.state, endpoints);
    // A terminal that does not say its size (0, or not a terminal) gets the classic 80 columns.
    const width = process.stdout.columns || 80;
    const screen = formatStatus(data, describeServers(), traffic, { color: interactive, width });
    const text = `${screen}\n${tips(data.status?.listening === true)
      .map((l) => fit(l, width))
      .join('\n')}\n`;
    process.stdout.write(interactive ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
  } finally {
    rendering = false;
  }
};
const refresh = setInterval(() => void render(), interactive ? 500 : 3000);
void render();

const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  clearInterval(refresh);
  if (load) clearInterval(load);
  clientAgent.destroy();
  if (interactive) process.stdin.setRawMode(false);
  process.stdin.pause();
  await api?.close();
  await agent.stop();
  await Promise.all(servers.map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
  process.stdout.write('\nkubeprism demo stopped.\n');
};

// One queue per server: "11" in one burst stops it, then starts it again, in that order.
const toggles = servers.map(() => Promise.resolve());
const onKey = (key: string): void => {
  if (key === 'q' || key === '\u0003') return void stop();
  const i = ['1', '2', '3'].indexOf(key);
  const server = servers[i];
  if (!server) return;
  toggles[i] = toggles[i]!.then(() => (server.running ? server.stop() : server.restart())).then(render, render);
};
if (interactive) {
  process.stdin.setRawMode(true);
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => splitKeys(chunk).forEach(onKey));
}
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
const seconds = Number(process.env.KUBEPRISM_DEMO_SECONDS ?? 0);
if (seconds > 0) setTimeout(() => void stop(), seconds * 1000).unref();
