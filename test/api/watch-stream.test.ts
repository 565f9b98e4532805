import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { finalize } from 'rxjs';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { streamWatch } from '../../src/api/watch-stream.js';
import { createState, defineResource, kindOf, ptr, silentLogger, type State } from '../../src/runtime/index.js';

const Thing = defineResource({ type: 'Things.test.kubeprism.dev', defaultNamespace: 'cluster', schema: z.object({ data: z.string() }) });

/** A response whose client reads only while `reading` is true: unread writes pile up in writableLength. */
class FakeResponse extends Writable {
  reading = true;
  text = '';
  status = 0;
  readonly #held: Array<() => void> = [];

  writeHead(status: number): this {
    this.status = status;
    return this;
  }

  flushHeaders(): void {}

  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    this.text += chunk.toString();
    if (this.reading) callback();
    else this.#held.push(callback);
  }

  /** The client reads again: everything held flows. */
  resume(): void {
    this.reading = true;
    for (const release of this.#held.splice(0)) release();
  }

  lines(): Array<Record<string, unknown>> {
    return this.text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

async function thingState(historyCapacity = 4096): Promise<State> {
  const state = await createState({ historyCapacity });
  await state.registerNamespace('cluster');
  await state.registerType(Thing);
  return state;
}

function open(state: State, res: FakeResponse, maxBufferedBytes = 1 << 20, extra: { bookmarks?: boolean; resume?: string } = {}) {
  return streamWatch(res as unknown as ServerResponse, {
    state,
    kind: kindOf(Thing),
    present: (r) => r,
    maxBufferedBytes,
    lingerMs: 50,
    logger: silentLogger(),
    ...extra,
  });
}

/** A turn of the event loop: every event written so far has reached the stream. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const summary = (res: FakeResponse) =>
  res.lines().map((l) => [l.event ?? 'error', (l.resource as { metadata: { id: string } } | undefined)?.metadata.id]);

/** Lines as short strings: `created a`, `bootstrapped`, `bookmark`. */
const brief = (lines: Array<Record<string, unknown>>): string[] =>
  lines.map((l) => {
    const id = (l.resource as { metadata: { id: string } } | undefined)?.metadata.id;
    const event = typeof l.event === 'string' ? l.event : 'error';
    return id === undefined ? event : `${event} ${id}`;
  });

describe('watch stream', () => {
  it('ends the stream with an error line when the client stops reading, instead of buffering without bound', async () => {
    const state = await thingState();
    const res = new FakeResponse();
    open(state, res, 4096);
    res.reading = false;
    // Each event is ~300 bytes; 100 of them are far past the 4 KiB bound.
    for (let i = 0; i < 100; i++) await state.create({ metadata: { ...ptr(Thing, `t${i}`) }, spec: { data: 'x'.repeat(100) } });
    expect(res.writableEnded).toBe(true);
    expect(res.writableLength).toBeLessThan(8192);
    res.resume();
    const lines = res.lines();
    expect(lines.at(-1)).toEqual({ error: { code: 'KP_ERR_SLOW_CONSUMER', message: expect.any(String) } });
    // It stopped writing right after passing the bound: well under the 100 events.
    expect(lines.length).toBeLessThan(30);
  });

  it('cuts off a client that never reads even the error line, after the linger time', async () => {
    const state = await thingState();
    const res = new FakeResponse();
    open(state, res, 1024);
    res.reading = false;
    for (let i = 0; i < 20; i++) await state.create({ metadata: { ...ptr(Thing, `t${i}`) }, spec: { data: 'x'.repeat(100) } });
    expect(res.writableEnded).toBe(true);
    await new Promise<void>((resolve) => res.once('close', () => resolve()));
    expect(res.destroyed).toBe(true);
  });

  it('re-watches after the store reports an overrun and sends only the difference, without a second bootstrap', async () => {
    const state = await thingState(8);
    await state.create({ metadata: { ...ptr(Thing, 'keep') }, spec: { data: 'v1' } });
    await state.create({ metadata: { ...ptr(Thing, 'gone') }, spec: { data: 'v1' } });
    const res = new FakeResponse();
    const watches = vi.spyOn(state, 'watchKind');
    open(state, res);
    expect(summary(res)).toEqual([
      ['created', 'gone'],
      ['created', 'keep'],
      ['bootstrapped', undefined],
    ]);
    // A burst larger than the history, issued without yielding: the watcher overruns.
    const burst = Array.from({ length: 20 }, (_, i) =>
      state.create({ metadata: { ...ptr(Thing, `n${String(i).padStart(2, '0')}`) }, spec: { data: 'x' } }),
    );
    const keep = await state.get(ptr(Thing, 'keep'));
    burst.push(state.update({ ...keep, spec: { data: 'v2' } }));
    await Promise.all(burst);
    await state.destroy(ptr(Thing, 'gone'));
    // Let the re-watch (queued as a microtask after the overrun) and its deliveries run.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(watches).toHaveBeenCalledTimes(2); // the overrun did happen, and was followed by one re-watch
    const after = summary(res).slice(3);
    expect(after.filter(([e]) => e === 'bootstrapped')).toEqual([]);
    expect(after).toContainEqual(['destroyed', 'gone']);
    expect(after).toContainEqual(['updated', 'keep']);
    expect(after.filter(([e]) => e === 'created')).toHaveLength(20);
    // Every id the client ends up believing in exists, and vice versa.
    const believed = new Set<string>();
    for (const [event, id] of summary(res)) {
      if (event === 'created') believed.add(id as string);
      if (event === 'destroyed') believed.delete(id as string);
    }
    expect([...believed].sort()).toEqual((await state.list(kindOf(Thing))).map((r) => r.metadata.id));
    res.destroy();
  });

  it('names the kind it bootstrapped', async () => {
    const state = await thingState();
    const res = new FakeResponse();
    open(state, res);
    expect(res.lines()).toEqual([{ event: 'bootstrapped', namespace: 'cluster', type: Thing.type }]);
    res.destroy();
  });

  it('sends bookmarks after the bootstrap and after each batch; resuming from any of them misses and repeats nothing', async () => {
    const state = await thingState();
    await state.create({ metadata: ptr(Thing, 'a'), spec: { data: '1' } });
    const res = new FakeResponse();
    open(state, res, 1 << 20, { bookmarks: true });
    await state.create({ metadata: ptr(Thing, 'b'), spec: { data: '1' } });
    await turn();
    await state.modify(ptr(Thing, 'a'), (d) => void (d.spec.data = '2'));
    await state.destroy(ptr(Thing, 'b'));
    await turn();
    res.destroy();
    const lines = res.lines();
    // One bookmark follows the bootstrap, one each batch (how writes fall into batches is the store's business).
    expect(brief(lines).filter((l) => l !== 'bookmark')).toEqual(['created a', 'bootstrapped', 'created b', 'updated a', 'destroyed b']);
    expect(brief(lines).slice(0, 5)).toEqual(['created a', 'bootstrapped', 'bookmark', 'created b', 'bookmark']);
    expect(brief(lines).at(-1)).toBe('bookmark');
    for (const [i, line] of lines.entries()) {
      if (line.event !== 'bookmark') continue;
      const resumed = new FakeResponse();
      open(state, resumed, 1 << 20, { bookmarks: true, resume: line.bookmark as string });
      await turn();
      // No bootstrap: what followed that bookmark, each event once, then the bookmark of the end.
      const after = lines.slice(i + 1);
      const got = resumed.lines();
      expect(resumed.status).toBe(200);
      expect(brief(got).filter((l) => l !== 'bookmark')).toEqual(brief(after).filter((l) => l !== 'bookmark'));
      expect(got.at(-1)).toEqual(after.at(-1)); // undefined for both when nothing followed
      resumed.destroy();
    }
  });

  it('answers 410 before any line for a bookmark it cannot honour', async () => {
    const state = await thingState(4);
    const res = new FakeResponse();
    open(state, res, 1 << 20, { bookmarks: true });
    const [, bookmark] = res.lines();
    res.destroy();
    for (let i = 0; i < 5; i++) await state.create({ metadata: ptr(Thing, `t${i}`), spec: { data: 'x' } });
    const restarted = await thingState();
    for (const [store, mark] of [
      [state, bookmark?.bookmark as string], // fell out of the history
      [restarted, bookmark?.bookmark as string], // another store instance: the agent restarted
      [state, 'not-a-bookmark'],
    ] as const) {
      const resumed = new FakeResponse();
      open(store, resumed, 1 << 20, { resume: mark });
      expect(resumed.status).toBe(410);
      expect(resumed.lines()).toEqual([{ error: { code: 'KP_ERR_BOOKMARK_EXPIRED', message: expect.stringMatching(/list again/) } }]);
      expect(resumed.writableEnded).toBe(true);
    }
  });

  it('unsubscribes when the client goes away', async () => {
    const state = await thingState();
    // Count teardowns of the store subscription: a destroyed response takes no writes either way, so
    // only the subscription itself tells whether the watch was dropped.
    let teardowns = 0;
    const original = state.watchKind.bind(state);
    vi.spyOn(state, 'watchKind').mockImplementation((kind, options) => original(kind, options).pipe(finalize(() => teardowns++)));
    const res = new FakeResponse();
    open(state, res);
    expect(teardowns).toBe(0);
    res.destroy();
    await vi.waitFor(() => expect(teardowns).toBe(1), { timeout: 2_000, interval: 5 });
  });
});
