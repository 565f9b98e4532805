import { execFile } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { configFileDigest, NODE_STATE_FS, parsePersisted, type StateFs } from '../../src/agent/config-store.js';
import { LAST_GOOD_FILE } from '../../src/agent/machine-config-source.js';
import { KUBEPRISM_CONFIG_ID, KubePrismConfigType, MACHINE_CONFIG_ID, MachineConfigStatusType } from '../../src/resources/index.js';
import { ptr } from '../../src/runtime/index.js';
import { v1alpha1Config } from '../harness/configs.js';
import { eventuallyResource } from '../harness/eventually.js';
import { freePort } from '../harness/ports.js';

// Config sources that do what the operator meant: a config applied through the API outlives a restart
// until the config file changes; SIGHUP always applies the file; a stuck state directory holds up
// neither the config nor the shutdown beyond its bound.

let dir: string;
const agents: Agent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  // Retried: a save released at the end of a test may still be renaming its file into the directory.
  await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

let ports: number[] = [];
beforeAll(async () => {
  ports = await Promise.all(Array.from({ length: 8 }, () => freePort()));
});
/** A worker config whose KubePrism port tells the configs apart (nothing listens on the endpoint). */
const cfg = (n: number): string =>
  v1alpha1Config({
    machineType: 'worker',
    endpoint: `https://127.0.0.1:${ports[7]}`,
    kubePrism: { enabled: true, port: ports[n], healthCheck: { mode: 'tcp', interval: '1s', timeout: '200ms' } },
  });

const kpc = ptr(KubePrismConfigType, KUBEPRISM_CONFIG_ID);
const status = ptr(MachineConfigStatusType, MACHINE_CONFIG_ID);
const configFile = (): string => path.join(dir, 'config.yaml');
const stateFile = (): string => path.join(dir, 'state', LAST_GOOD_FILE);

async function startAgent(extra: Partial<Parameters<typeof Agent.create>[0]> = {}): Promise<Agent> {
  const agent = await Agent.create({
    configPath: configFile(),
    stateDir: path.join(dir, 'state'),
    outputDir: path.join(dir, 'out'),
    watchDebounceMs: 20,
    watchPollMs: 100,
    ...extra,
  });
  agents.push(agent);
  await agent.start();
  return agent;
}

async function stopAgent(agent: Agent): Promise<void> {
  await agent.stop();
  agents.splice(agents.indexOf(agent), 1);
}

const portOf = async (agent: Agent, n: number): Promise<void> =>
  eventuallyResource(agent.state, kpc, (r) => expect(r?.spec.port).toBe(ports[n]));

describe('config sources: file, apply, restart, SIGHUP', () => {
  it('file → apply → restart: the applied config is kept (the file did not change), and says so', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-sources-'));
    await writeFile(configFile(), cfg(0));
    const first = await startAgent();
    await portOf(first, 0);
    expect(await first.applyConfig(cfg(1), 'api')).toMatchObject({ applied: true, changed: true });
    await portOf(first, 1);
    // Saved with the digest of the file it superseded.
    expect(parsePersisted(await readFile(stateFile(), 'utf8'))).toEqual({
      text: cfg(1),
      source: 'api',
      supersedes: configFileDigest(cfg(0)),
    });
    await stopAgent(first);

    const second = await startAgent();
    await portOf(second, 1);
    expect((await second.state.get(status)).spec).toMatchObject({ source: 'api', usingLastGood: false, restoredFrom: stateFile() });
    // A touch that changes nothing is no change: the applied config stays.
    await writeFile(configFile(), cfg(0));
    await second.engine.settled();
    expect((await second.state.get(kpc)).spec.port).toBe(ports[1]);
  });

  it('file edited while stopped → the file wins at start', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-sources-'));
    await writeFile(configFile(), cfg(0));
    const first = await startAgent();
    await first.applyConfig(cfg(1), 'api');
    await portOf(first, 1);
    await stopAgent(first);
    await writeFile(configFile(), cfg(2));
    const second = await startAgent();
    await portOf(second, 2);
    expect((await second.state.get(status)).spec).toMatchObject({ source: `file:${configFile()}` });
    expect((await second.state.get(status)).spec.restoredFrom).toBeUndefined();
    expect(parsePersisted(await readFile(stateFile(), 'utf8'))).toMatchObject({ text: cfg(2), source: `file:${configFile()}` });
  });

  it('file edited while running → the file wins', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-sources-'));
    await writeFile(configFile(), cfg(0));
    const agent = await startAgent();
    await agent.applyConfig(cfg(1), 'api');
    await portOf(agent, 1);
    await writeFile(configFile(), cfg(3));
    await portOf(agent, 3);
  });

  it('SIGHUP → the file wins even unchanged, and so after the next restart', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-sources-'));
    await writeFile(configFile(), cfg(0));
    const first = await startAgent();
    await first.applyConfig(cfg(1), 'api');
    await portOf(first, 1);
    expect(await first.reloadConfig()).toMatchObject({ applied: true, changed: true });
    await portOf(first, 0);
    await stopAgent(first);
    const second = await startAgent();
    await portOf(second, 0);
    expect((await second.state.get(status)).spec.source).toBe(`file:${configFile()}`);
  });

  it('an applied config is not lost to a broken file: kept while running, and the last good one after a restart', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-sources-'));
    await writeFile(configFile(), cfg(0));
    const first = await startAgent();
    await first.applyConfig(cfg(1), 'api');
    await writeFile(configFile(), 'machine: [');
    await eventuallyResource(first.state, status, (s) => expect(s?.spec.lastError?.source).toBe(`file:${configFile()}`));
    expect((await first.state.get(kpc)).spec.port).toBe(ports[1]);
    expect(await first.reloadConfig()).toMatchObject({ applied: false });
    await stopAgent(first);
    const second = await startAgent();
    await portOf(second, 1);
    expect((await second.state.get(status)).spec).toMatchObject({ usingLastGood: true });
  });
});

describe('config sources: a stuck state directory', () => {
  /** A state filesystem whose writes hang until released; reads work (nothing saved yet). */
  function stuckFs(): StateFs & { writes: number; release(): void } {
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const fs = {
      writes: 0,
      release: () => release(),
      readFile: NODE_STATE_FS.readFile,
      async writeFile(file: string, content: string) {
        fs.writes++;
        await gate;
        return NODE_STATE_FS.writeFile(file, content);
      },
    };
    return fs;
  }

  it('configs keep applying, the status says the save is stuck, one write at a time, the latest saved once it answers', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-sources-'));
    await writeFile(configFile(), cfg(0));
    const fs = stuckFs();
    const agent = await startAgent({ stateFs: fs, stateTimeoutMs: 100 });
    await portOf(agent, 0);
    await eventuallyResource(agent.state, status, (s) => expect(s?.spec.persistError).toMatch(/has not finished writing .* after 0\.1s/u));
    // The config path does not wait for the directory.
    for (const n of [1, 2, 3]) {
      expect(await agent.applyConfig(cfg(n), 'api')).toMatchObject({ applied: true });
      await portOf(agent, n);
    }
    await writeFile(configFile(), cfg(4));
    await portOf(agent, 4);
    // Never more than one write in flight (a hung write holds one of libuv's few threads).
    expect(fs.writes).toBe(1);
    fs.release();
    await eventuallyResource(agent.state, status, (s) => expect(s?.spec.persistError).toBeUndefined());
    expect(fs.writes).toBe(2); // the one in flight, then only the latest
    expect(parsePersisted(await readFile(stateFile(), 'utf8')).text).toBe(cfg(4));
  });

  it('stop() waits for a hung save at most its bound', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-sources-'));
    await writeFile(configFile(), cfg(0));
    const fs = stuckFs();
    const agent = await startAgent({ stateFs: fs, stateTimeoutMs: 100, stopPersistTimeoutMs: 200 });
    await portOf(agent, 0);
    // Resolves (the test's own timeout would fail it otherwise), with the save still hanging.
    await stopAgent(agent);
    expect(fs.writes).toBe(1);
    fs.release();
  });

  it('a FIFO where the state file should be: start reads past it, the config applies, stop is bounded', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-sources-'));
    await mkdir(path.join(dir, 'state'));
    await promisify(execFile)('mkfifo', [stateFile()]);
    await writeFile(configFile(), cfg(0));
    try {
      const agent = await startAgent({ stateTimeoutMs: 200, stopPersistTimeoutMs: 300 });
      await portOf(agent, 0);
      await eventuallyResource(agent.state, status, (s) => expect(s?.spec.persistError).toMatch(/has not finished writing/u));
      await agent.applyConfig(cfg(1), 'api');
      await portOf(agent, 1);
      await stopAgent(agent);
    } finally {
      // Let the opens blocked on the FIFO finish, so no thread of this test process stays stuck.
      closeSync(openSync(stateFile(), constants.O_RDWR | constants.O_NONBLOCK));
    }
  });
});
