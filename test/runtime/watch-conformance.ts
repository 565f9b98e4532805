import { firstValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  BookmarkExpiredError,
  ValidationError,
  type LabelTerm,
  type Resource,
  type ResourceKind,
  type WatchBookmarkEvent,
  type WatchEvent,
} from '../../src/runtime/index.js';
import { bootstrapped, describeEvents, firstEvents, type ConformanceFactory } from './state-conformance.js';

/** The bookmark an event carries (its own, a bootstrap's, or a bookmark event's). */
function bookmarkOf(event: WatchEvent | WatchBookmarkEvent | undefined): string {
  const bookmark = event && 'bookmark' in event ? event.bookmark : undefined;
  if (bookmark === undefined) throw new Error(`no bookmark on ${JSON.stringify(event)}`);
  return bookmark;
}

/** The error a subscription fails with (or "no error"). */
async function subscriptionError(events: import('rxjs').Observable<unknown>): Promise<unknown> {
  return firstValueFrom(events.pipe(toArray())).then(
    () => 'no error',
    (err: unknown) => err,
  );
}

/**
 * Watch-kind conformance (COSI's tail events, bookmarks and resume, label queries with every operator):
 * every CoreState implementation and wrapper must pass it too.
 */
export function watchConformance(name: string, factory: ConformanceFactory): void {
  const open = (historyCapacity = 1024) => factory({ historyCapacity });
  const res = (kind: ResourceKind, id: string, value: string, labels: Record<string, string> = {}) => ({
    metadata: { ...kind, id, labels },
    spec: { value },
  });

  describe(`${name}: watch conformance`, () => {
    it('names the namespace and type it bootstrapped, with a bookmark', async () => {
      const { core, kind } = await open();
      await core.create(res(kind, 'a', 'one'));
      const events = await firstEvents(core.watchKind(kind, { bootstrap: true }), 2);
      expect(events[1]).toEqual({
        type: 'bootstrapped',
        kind: { namespace: kind.namespace, type: kind.type },
        bookmark: expect.any(String),
      });
      const empty = { ...kind, namespace: 'elsewhere' };
      const [marker] = await firstEvents(core.watchKind(empty, { bootstrap: true }), 1);
      expect(describeEvents(marker ? [marker] : [])).toEqual([bootstrapped(empty)]);
    });

    it('starts from the tail of the history, then goes live', async () => {
      const { core, kind } = await open();
      const a = await core.create(res(kind, 'a', 'one'));
      await core.update({ ...a, spec: { value: 'two' } });
      await core.create(res(kind, 'b', 'b'));
      await core.destroy({ ...kind, id: 'b' });
      const lastTwo = firstEvents(core.watchKind(kind, { tailEvents: 2 }), 3);
      const all = firstEvents(core.watchKind(kind, { tailEvents: 1000 }), 5);
      await core.create(res(kind, 'c', 'live'));
      expect(describeEvents(await lastTwo)).toEqual(['created:b@1:b', 'destroyed:b@1:b', 'created:c@1:live']);
      expect(describeEvents(await all)).toEqual([
        'created:a@1:one',
        'updated:a@2:two',
        'created:b@1:b',
        'destroyed:b@1:b',
        'created:c@1:live',
      ]);
    });

    it('keeps only what the history holds for a tail', async () => {
      const { core, kind } = await open(4);
      for (let i = 0; i < 10; i++) await core.create(res(kind, `r${i}`, 'x'));
      const events = await firstEvents(core.watchKind(kind, { tailEvents: 100 }), 4);
      expect(events.map((e) => (e.type === 'created' ? e.resource.metadata.id : e.type))).toEqual(['r6', 'r7', 'r8', 'r9']);
    });

    it('refuses start options that exclude each other', async () => {
      const { core, kind } = await open();
      expect(await subscriptionError(core.watchKind(kind, { bootstrap: true, tailEvents: 3 }))).toBeInstanceOf(ValidationError);
      expect(await subscriptionError(core.watchKind(kind, { tailEvents: -1 }))).toBeInstanceOf(ValidationError);
      const [marker] = await firstEvents(core.watchKind(kind, { bootstrap: true }), 1);
      const bookmark = bookmarkOf(marker);
      expect(await subscriptionError(core.watchKind(kind, { bootstrap: true, startFromBookmark: bookmark }))).toBeInstanceOf(
        ValidationError,
      );
    });

    it('resumes from any bookmark without a gap or a duplicate', async () => {
      const { core, kind } = await open();
      await core.create(res(kind, 'pre', 'x'));
      const seen: Array<WatchEvent | WatchBookmarkEvent> = [];
      const subscription = core.watchKind(kind, { bootstrap: true }).subscribe((e) => seen.push(e));
      const a = await core.create(res(kind, 'a', '1'));
      const a2 = await core.update({ ...a, spec: { value: '2' } });
      await core.create(res(kind, 'b', '1'));
      await core.update({ ...a2, spec: { value: '3' } });
      await core.destroy({ ...kind, id: 'b' });
      await firstEvents(core.watchKind(kind, { tailEvents: 1 }), 1); // every event has been delivered by now
      subscription.unsubscribe();
      const live = describeEvents(seen);
      expect(live).toEqual([
        'created:pre@1:x',
        bootstrapped(kind),
        'created:a@1:1',
        'updated:a@2:2',
        'created:b@1:1',
        'updated:a@3:3',
        'destroyed:b@1:1',
      ]);
      // From the bootstrap's bookmark and from each event's own: exactly what followed it, then a bookmark
      // equal to the last event's (nothing more to replay), then live events.
      const end = bookmarkOf(seen.at(-1));
      for (let i = 1; i < seen.length; i++) {
        const after = live.slice(i + 1);
        const want = ['bookmark', ...after, ...(after.length > 0 ? ['bookmark'] : [])];
        const replay = await firstEvents(core.watchKind(kind, { startFromBookmark: bookmarkOf(seen[i]), bookmarks: true }), want.length);
        expect(describeEvents(replay)).toEqual(want);
        expect(bookmarkOf(replay.at(-1))).toBe(end);
      }
      const resumed = firstEvents(core.watchKind(kind, { startFromBookmark: end }), 1);
      await core.create(res(kind, 'later', 'l'));
      expect(describeEvents(await resumed)).toEqual(['created:later@1:l']);
    });

    it('sends bookmark events when asked: the start, then after each batch, even when a filter hides the batch', async () => {
      const { core, kind } = await open();
      const events: Array<WatchEvent | WatchBookmarkEvent> = [];
      const subscription = core
        .watchKind(kind, { bookmarks: true, labels: [{ key: 'show', op: 'exists' }] })
        .subscribe((e) => events.push(e));
      expect(describeEvents(events)).toEqual(['bookmark']);
      await core.create(res(kind, 'hidden', 'h'));
      await firstEvents(core.watchKind(kind, { tailEvents: 1 }), 1);
      expect(describeEvents(events)).toEqual(['bookmark', 'bookmark']);
      expect(bookmarkOf(events[1])).not.toBe(bookmarkOf(events[0]));
      await core.create(res(kind, 'shown', 's', { show: '' }));
      await firstEvents(core.watchKind(kind, { tailEvents: 1 }), 1);
      subscription.unsubscribe();
      expect(describeEvents(events)).toEqual(['bookmark', 'bookmark', 'created:shown@1:s', 'bookmark']);
      // The hidden event's bookmark resumes after it: only what the filter lets through follows.
      const resumed = await firstEvents(core.watchKind(kind, { startFromBookmark: bookmarkOf(events[1]) }), 1);
      expect(describeEvents(resumed)).toEqual(['created:shown@1:s']);
    });

    it('refuses a bookmark that fell out of the history, never a silent gap', async () => {
      const { core, kind } = await open(8);
      const [marker] = await firstEvents(core.watchKind(kind, { bootstrap: true }), 1);
      for (let i = 0; i < 8; i++) await core.create(res(kind, `r${i}`, 'x'));
      // 8 events since the bookmark: the history still holds them all.
      const fine = await firstEvents(core.watchKind(kind, { startFromBookmark: bookmarkOf(marker) }), 8);
      expect(fine).toHaveLength(8);
      await core.create(res(kind, 'one-too-many', 'x'));
      const err = await subscriptionError(core.watchKind(kind, { startFromBookmark: bookmarkOf(marker) }));
      expect(err).toBeInstanceOf(BookmarkExpiredError);
      expect((err as BookmarkExpiredError).code).toBe('KP_ERR_BOOKMARK_EXPIRED');
    });

    it('refuses a bookmark of another store instance, of another kind, or one it never issued', async () => {
      const first = await open();
      const second = await open();
      const [marker] = await firstEvents(first.core.watchKind(first.kind, { bootstrap: true }), 1);
      const bookmark = bookmarkOf(marker);
      const otherKind = { ...first.kind, namespace: 'elsewhere' };
      for (const [core, kind, mark] of [
        [second.core, second.kind, bookmark],
        [first.core, otherKind, bookmark],
        [first.core, first.kind, 'garbage'],
        [first.core, first.kind, ''],
      ] as const) {
        expect(await subscriptionError(core.watchKind(kind, { startFromBookmark: mark }))).toBeInstanceOf(BookmarkExpiredError);
      }
    });

    describe('label queries (COSI operators and semantics)', () => {
      const labelled: Array<[string, Record<string, string>]> = [
        ['none', {}],
        ['small', { size: '9', name: 'b' }],
        ['big', { size: '10', name: 'a' }],
        ['kilo', { size: '2k', name: 'c' }],
        ['kibi', { size: '1Ki', name: 'd' }],
        ['word', { size: 'huge', name: 'e' }],
      ];
      async function ids(query: { labels?: LabelTerm[]; labelQueries?: LabelTerm[][] }): Promise<string[]> {
        const { core, kind } = await open();
        for (const [id, labels] of labelled) await core.create(res(kind, id, id, labels));
        const listed = (await core.list(kind, query)).map((r: Resource) => r.metadata.id);
        const watched = await firstEvents(core.watchKind(kind, { ...query, bootstrap: true }), listed.length + 1);
        expect(watched.flatMap((e) => (e.type === 'created' ? [e.resource.metadata.id] : []))).toEqual(listed);
        return listed;
      }

      it.each<[string, LabelTerm, string[]]>([
        ['exists', { key: 'size', op: 'exists' }, ['big', 'kibi', 'kilo', 'small', 'word']],
        ['not exists', { key: 'size', op: 'exists', invert: true }, ['none']],
        ['equal', { key: 'size', op: 'equal', value: '9' }, ['small']],
        [
          'not equal (matches the unlabelled)',
          { key: 'size', op: 'equal', value: '9', invert: true },
          ['big', 'kibi', 'kilo', 'none', 'word'],
        ],
        ['in', { key: 'name', op: 'in', values: ['a', 'e', 'z'] }, ['big', 'word']],
        ['not in', { key: 'name', op: 'in', values: ['a', 'e'], invert: true }, ['kibi', 'kilo', 'none', 'small']],
        ['lt (strings)', { key: 'size', op: 'lt', value: '2' }, ['big', 'kibi']],
        ['lte (strings)', { key: 'size', op: 'lte', value: '2k' }, ['big', 'kibi', 'kilo']],
        ['gt (strings)', { key: 'name', op: 'gt', value: 'c' }, ['kibi', 'word']],
        ['gte (strings)', { key: 'name', op: 'gte', value: 'c' }, ['kibi', 'kilo', 'word']],
        ['not lt (strings, unlabelled included)', { key: 'size', op: 'lt', value: '2', invert: true }, ['kilo', 'none', 'small', 'word']],
        ['lt numeric', { key: 'size', op: 'ltNumeric', value: '10' }, ['small']],
        ['lte numeric', { key: 'size', op: 'lteNumeric', value: '1024' }, ['big', 'kibi', 'small']],
        ['gt numeric (units)', { key: 'size', op: 'gtNumeric', value: '1k' }, ['kibi', 'kilo']],
        ['gte numeric', { key: 'size', op: 'gteNumeric', value: '2000' }, ['kilo']],
        // Not a number: false whether inverted or not (COSI); a missing label inverted is still true.
        ['not lt numeric', { key: 'size', op: 'ltNumeric', value: '10', invert: true }, ['big', 'kibi', 'kilo', 'none']],
        ['numeric against a non-number', { key: 'size', op: 'gtNumeric', value: 'many' }, []],
      ])('%s', async (_name, term, want) => {
        expect(await ids({ labels: [term] })).toEqual(want);
      });

      it('ORs several queries (each one an AND of its terms)', async () => {
        expect(
          await ids({
            labelQueries: [
              [
                { key: 'size', op: 'ltNumeric', value: '10' },
                { key: 'name', op: 'equal', value: 'b' },
              ],
              [{ key: 'size', op: 'exists', invert: true }],
              [
                { key: 'name', op: 'equal', value: 'e' },
                { key: 'size', op: 'exists', invert: true },
              ],
            ],
          }),
        ).toEqual(['none', 'small']);
        expect(
          await ids({ labels: [{ key: 'name', op: 'equal', value: 'a' }], labelQueries: [[{ key: 'name', op: 'equal', value: 'e' }]] }),
        ).toEqual(['big', 'word']);
        expect(await ids({ labelQueries: [] })).toHaveLength(labelled.length);
      });
    });
  });
}
