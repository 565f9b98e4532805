import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { parseApiAddress } from '../../src/api/index.js';
import type { ResourceWatchLine } from '../../src/api/watch-stream.js';
import { runCli } from '../../src/cli/program.js';
import { resumingWatch } from '../../src/cli/watch-resume.js';
import type { MemberSpec } from '../../src/config/index.js';
import { startTestApi, type TestApi } from '../api/helpers.js';
import { closeServer, listen } from '../harness/ports.js';

// What is expected: `get -w` outlives its stream. A dropped connection resumes after the last bookmark
// (nothing missed, nothing twice); an agent restart (the bookmark refused with 410) lists again and
// prints only the difference from what was already shown, after saying so on stderr.

const member = (hostname: string): MemberSpec => ({ nodeId: hostname, hostname, machineType: 'worker', addresses: ['10.0.0.9'] });

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function agentOn(address?: string): Promise<TestApi> {
  const t = await startTestApi(address !== undefined ? { address } : {});
  cleanups.push(() => t.stop());
  return t;
}

/** A TCP forwarder in front of the API whose connections the test can cut (a dropped stream). */
async function forwarder(target: string): Promise<{ address: string; cut: () => void }> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host, port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  const bound = await listen(server, '127.0.0.1', 0);
  cleanups.push(() => closeServer(server));
  return {
    address: `127.0.0.1:${bound}`,
    cut: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

/** Reads a watch, calling `step` after each line with all lines so far; stops when `step` returns true. */
async function follow(
  lines: AsyncIterable<ResourceWatchLine>,
  abort: AbortController,
  step: (seen: string[]) => Promise<boolean | void> | boolean | void,
): Promise<string[]> {
  const seen: string[] = [];
  for await (const line of lines) {
    seen.push(line.event === 'bootstrapped' ? 'bootstrapped' : `${line.event} ${line.resource.metadata.id}`);
    if ((await step(seen)) === true) abort.abort();
  }
  return seen;
}

describe('get -w resumes', () => {
  it('after a dropped stream: from the last bookmark, with what happened meanwhile exactly once', async () => {
    const t = await agentOn();
    await t.agent.putMember('a', member('a'));
    const proxy = await forwarder(t.address);
    const client = new ApiClient(parseApiAddress(proxy.address));
    const abort = new AbortController();
    const notices: string[] = [];
    const seen = await follow(
      resumingWatch(client, 'members', {}, { signal: abort.signal, notice: (m) => notices.push(m), initialDelayMs: 10 }),
      abort,
      async (lines) => {
        if (lines.length === 2) {
          // Bootstrapped: cut the stream, change things while nobody watches.
          proxy.cut();
          await t.agent.putMember('b', member('b'));
          await t.agent.putMember('a', member('a2'));
        }
        return lines.includes('updated a');
      },
    );
    expect(seen).toEqual(['created a', 'bootstrapped', 'created b', 'updated a']);
    expect(notices.some((n) => /lost the watch|stream ended/.test(n))).toBe(true);
  });

  it('after an agent restart: lists again and prints only the difference (the CLI, with a notice on stderr)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-resume-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const address = `unix:${path.join(dir, 'api.sock')}`;
    const first = await agentOn(address);
    await first.agent.putMember('kept', member('kept'));
    await first.agent.putMember('gone', member('gone'));
    await first.agent.putMember('changed', member('changed'));

    const interrupt = new AbortController();
    let stdout = '';
    let stderr = '';
    let restarted = false;
    const rows = (): string[] => stdout.split('\n').filter((l) => l !== '');
    const onOutput = (): void => {
      if (!restarted && rows().length === 4) {
        restarted = true;
        void (async () => {
          await first.stop();
          const second = await agentOn(address);
          await second.agent.putMember('kept', member('kept'));
          await second.agent.putMember('changed', member('changed-now'));
          await second.agent.putMember('new', member('new'));
        })();
      } else if (restarted && rows().length === 7) interrupt.abort();
    };
    const code = await runCli(['get', 'members', '-w', '--api', address], {
      stdout: { write: (s: string) => ((stdout += s), onOutput()) },
      stderr: { write: (s: string) => ((stderr += s), onOutput()) },
      env: {},
      signal: interrupt.signal,
    });
    expect(code).toBe(0);
    const marks = rows()
      .slice(1)
      .map((l) => `${l.slice(0, 1)}${l.split(/\s+/)[3] ?? ''}`);
    // Initial rows, then: "gone" destroyed, "changed" updated, "new" created; "kept" is not printed again.
    expect(marks.slice(0, 3).sort()).toEqual(['+changed', '+gone', '+kept']);
    expect(marks.slice(3).sort()).toEqual([' changed', '+new', '-gone'].sort());
    expect(stderr).toMatch(/cannot resume this watch .*listing again/);
  }, 20_000);
});
