import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient, ApiResponseError } from '../../src/api/client.js';
import type { WatchLine } from '../../src/api/watch-stream.js';
import { call, startTestApi, type TestApi } from './helpers.js';

// The client side of bookmarks: a watcher that loses its stream resumes from the last bookmark it saw
// and gets exactly what it missed; after an agent restart the bookmark is refused with 410.

const started: TestApi[] = [];
afterEach(async () => {
  for (const t of started.splice(0)) await t.stop();
});

async function agent(): Promise<{ t: TestApi; client: ApiClient }> {
  const t = await startTestApi();
  started.push(t);
  return { t, client: new ApiClient(t.address) };
}

const member = (hostname: string) => ({
  nodeId: hostname,
  hostname,
  machineType: 'worker',
  addresses: ['10.0.0.9'],
});

/** Reads lines until `stop` says so, then drops the stream. */
async function readUntil(
  stream: AsyncGenerator<WatchLine>,
  abort: AbortController,
  stop: (line: WatchLine) => boolean,
): Promise<WatchLine[]> {
  const lines: WatchLine[] = [];
  for await (const line of stream) {
    lines.push(line);
    if (stop(line)) abort.abort();
  }
  return lines;
}

const brief = (lines: WatchLine[]): string[] =>
  lines.flatMap((l) => (l.event === 'bookmark' ? [] : [l.event === 'bootstrapped' ? l.event : `${l.event} ${l.resource.metadata.id}`]));

describe('debug API: watch bookmarks through the client', () => {
  it('resumes after a dropped stream from the last bookmark, with nothing missed and nothing twice', async () => {
    const { client } = await agent();
    await client.put('members', 'a', member('a'));
    const first = new AbortController();
    const before = await readUntil(
      client.watch('members', { bookmarks: true, signal: first.signal }),
      first,
      (l) => l.event === 'bookmark',
    );
    expect(brief(before)).toEqual(['created a', 'bootstrapped']);
    expect(before.at(-1)).toEqual({ event: 'bookmark', bookmark: expect.any(String) });
    const last = before.at(-1) as { bookmark: string };

    // While nobody watches:
    await client.put('members', 'b', member('b'));
    await client.put('members', 'a', member('a2'));
    await client.delete('members', 'b');

    const second = new AbortController();
    const resumed = await readUntil(
      client.watch('members', { bookmarks: true, resume: last.bookmark, signal: second.signal }),
      second,
      (l) => l.event === 'destroyed',
    );
    expect(brief(resumed)).toEqual(['created b', 'updated a', 'updated b', 'destroyed b']); // a delete tears down first
  });

  it('refuses a bookmark from before an agent restart with 410 KP_ERR_BOOKMARK_EXPIRED, and resume without watch with 400', async () => {
    const old = await agent();
    const abort = new AbortController();
    const lines = await readUntil(
      old.client.watch('members', { bookmarks: true, signal: abort.signal }),
      abort,
      (l) => l.event === 'bookmark',
    );
    const bookmark = (lines.at(-1) as { bookmark: string }).bookmark;
    const restarted = await agent();
    const err = await (async () => {
      for await (const line of restarted.client.watch('members', { resume: bookmark })) return line;
      return undefined;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiResponseError);
    expect(err).toMatchObject({ status: 410, code: 'KP_ERR_BOOKMARK_EXPIRED' });
    const plain = await call(restarted.t.base, 'GET', `/v1/resources/members?resume=${encodeURIComponent(bookmark)}`);
    expect(plain.status).toBe(400);
  });
});
