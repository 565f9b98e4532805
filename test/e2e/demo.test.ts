import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeServer, freePort, listen } from '../harness/ports.js';

// `npm start` (the built demo) when its ports are taken: it says which and what to set, and suggests
// nothing that cannot work.

const DEMO = path.resolve(import.meta.dirname, '..', '..', 'dist', 'examples', 'demo', 'main.js');

interface Run {
  output: () => string;
  exited: Promise<number | null>;
  waitFor: (text: string) => Promise<void>;
  stop: () => Promise<number | null>;
}

function startDemo(env: Record<string, string>): Run {
  if (!existsSync(DEMO)) throw new Error(`${DEMO} is missing: run "npm run build" first`);
  const child = spawn(process.execPath, [DEMO], { env: { ...process.env, ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const wakers = new Set<() => void>();
  const onData = (s: string): void => {
    output += s;
    for (const wake of [...wakers]) wake();
  };
  child.stdout.setEncoding('utf8').on('data', onData);
  child.stderr.setEncoding('utf8').on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => (resolve(code), onData(''))));
  return {
    output: () => output,
    exited,
    waitFor: (text) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (output.includes(text)) {
            wakers.delete(check);
            resolve();
          } else if (child.exitCode !== null) {
            wakers.delete(check);
            reject(new Error(`demo exited before "${text}":\n${output}`));
          }
        };
        wakers.add(check);
        check();
      }),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGINT');
      return exited;
    },
  };
}

const running: Run[] = [];
const held: Server[] = [];
afterEach(async () => {
  for (const run of running.splice(0)) await run.stop();
  for (const server of held.splice(0)) await closeServer(server);
});

async function holdPort(): Promise<number> {
  const server = createServer();
  held.push(server);
  return listen(server, '127.0.0.1');
}

describe('the demo with a taken port', () => {
  it('stops at once when the KubePrism port is taken, naming KUBEPRISM_DEMO_PORT and a free port', async () => {
    const port = await holdPort();
    const demo = startDemo({ KUBEPRISM_DEMO_PORT: String(port) });
    running.push(demo);
    expect(await demo.exited).toBe(1);
    expect(demo.output()).toMatch(
      new RegExp(
        `^kubeprism demo: 127\\.0\\.0\\.1:${port} is taken .*\\nSet KUBEPRISM_DEMO_PORT to a free port, e\\.g\\.: KUBEPRISM_DEMO_PORT=\\d+ npm start\\n$`,
      ),
    );
    expect(demo.output()).not.toContain('curl');
  });

  it('runs without its debug API when that port is taken, says what to set, and suggests no kubeprism get', async () => {
    const apiPort = await holdPort();
    const demo = startDemo({ KUBEPRISM_DEMO_PORT: String(await freePort()), KUBEPRISM_DEMO_API: `127.0.0.1:${apiPort}` });
    running.push(demo);
    await demo.waitFor('restart with KUBEPRISM_DEMO_API=127.0.0.1:');
    expect(demo.output()).toContain(`kubeprism get needs the debug API, and 127.0.0.1:${apiPort} is taken;`);
    expect(demo.output()).not.toContain('npx kubeprism get');
    expect(await demo.stop()).toBe(0);
    expect(demo.output()).toContain('kubeprism demo stopped.');
  });
});
