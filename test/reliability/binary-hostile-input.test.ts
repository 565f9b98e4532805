import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../api/helpers.js';
import { v1alpha1Config } from '../harness/configs.js';
import { fixedPort, randomLoopback, refusingPort, type RefusingPort } from '../harness/ports.js';
import { assertBuilt, Spawned } from '../e2e/process.js';

// Deeply nested YAML against the built binary. The YAML parser recurses once per level; nested deep
// enough, the stack runs out inside V8's regular-expression compiler, which aborts the process rather
// than throwing (reproduced: two PUT bodies of 25,000 then 100,000 `[` killed `kubeprism run` with
// "FATAL ERROR: RegExpCompiler Allocation failed"). That is why this input is only ever sent to a spawned
// agent: inside the test runner it could take the runner down. Every case then checks the agent lives.

let dir: string;
let agent: Spawned;
let base: string;
/** The cluster endpoint's port: held by the test, nothing listens there. */
let closed: RefusingPort | undefined;

/** The agent still runs and answers. */
async function alive(): Promise<void> {
  expect(agent.running, `agent exited: ${agent.stderr.slice(-600)}`).toBe(true);
  expect((await call(base, 'GET', '/healthz')).status).toBe(200);
}

/** The nesting recipes that overflowed the parser's stack, deepest last (the order that crashed it). */
const DEEP: ReadonlyArray<readonly [string, string]> = [
  ['25,000 [', '['.repeat(25_000)],
  ['100,000 [', '['.repeat(100_000)],
  ['50,000 nested flow mappings', `a: ${'{a: '.repeat(50_000)}`],
  ['1,300 indented block sequences', Array.from({ length: 1_300 }, (_, i) => `${' '.repeat(i)}- `).join('\n')],
  ['400,000 [', '['.repeat(400_000)],
];

beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-reliability-hostile-'));
  const config = path.join(dir, 'config.yaml');
  await writeFile(
    config,
    v1alpha1Config({
      machineType: 'worker',
      endpoint: `https://127.0.0.201:${(closed = await refusingPort(['127.0.0.201'])).port}`, // nothing listens there
      kubePrism: { enabled: false },
    }),
  );
  const apiHost = randomLoopback(); // the child's API address, told in advance: an address of its own
  base = `http://${apiHost}:${await fixedPort(apiHost)}`;
  agent = new Spawned(['run', '--config', config, '--api', base.slice('http://'.length), '--state-dir', path.join(dir, 'state')]);
  await agent.waitForLog('kubeprism running');
}, 30_000);

afterAll(async () => {
  await agent?.kill();
  closed?.release();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('reliability: deeply nested YAML against the kubeprism binary', () => {
  it('member bodies nested thousands deep are refused with 400 naming the place, and the agent lives', async () => {
    for (const [what, nested] of DEEP) {
      for (const [contentType, body] of [
        ['application/yaml', `spec: ${nested}`],
        ['application/json', `{"spec": ${nested.replace(/ /g, '')}`],
      ] as const) {
        const res = await call(base, 'PUT', '/v1/resources/members/deep', body, contentType);
        expect(res.status, `${what} as ${contentType}: ${res.text.slice(0, 200)}`).toBe(400);
        if (contentType === 'application/yaml') expect(res.text).toMatch(/nested more than 100 levels deep \(line \d+, column \d+\)/);
        await alive();
      }
    }
  });

  it('well-formed JSON nested 100,000 deep in member fields is refused with 400 naming the fields, and the agent lives', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    for (const body of [
      `{"spec": ${deep}}`,
      `{"spec": {"nodeId": ${deep}, "hostname": "h", "machineType": "worker", "addresses": ${deep}}}`,
    ]) {
      const res = await call(base, 'PUT', '/v1/resources/members/deep-json', body, 'application/json');
      expect(res.status, res.text.slice(0, 300)).toBe(400);
      await alive();
    }
    // And the store still takes a good member.
    const ok = await call(
      base,
      'PUT',
      '/v1/resources/members/after-deep',
      JSON.stringify({ spec: { nodeId: 'n', hostname: 'h', machineType: 'worker', addresses: ['127.0.0.250'] } }),
    );
    expect(ok.status, ok.text).toBe(201);
  });

  // Machine configs go through src/config's reader, guarded the same way since 151e07a (they used to abort it too).
  it('machine configs nested thousands deep are refused with 400, and the agent lives', async () => {
    for (const [what, nested] of DEEP) {
      const res = await call(base, 'PUT', '/v1/config', nested, 'application/yaml').catch((err: unknown) => ({
        status: 0,
        text: String(err),
      }));
      expect(res.status, `${what}: ${res.text.slice(0, 200)}`).toBe(400);
      expect(res.text, what).toMatch(/"path":"","message":"not valid YAML: nested more than 100 levels deep \(line \d+, column \d+\)"/);
      await alive();
    }
  });
});
