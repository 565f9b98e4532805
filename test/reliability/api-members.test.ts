import fc from 'fast-check';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memberSpecSchema, type MemberSpec } from '../../src/config/index.js';
import { RESOURCE_ID_MAX_LENGTH, resourceIdProblem } from '../../src/runtime/index.js';
import { call } from '../api/helpers.js';
import { whoAnswers } from '../harness/fake-apiserver.js';
import { endpointsSettled, junkMemberSpec, startApiAgent, validMemberSpec, type ApiAgent } from './api-fixture.js';
import { LIVE_TYPES, resourceSnapshot } from './fixture.js';
import { runs } from '../harness/mutations.js';

// Random member lists through the debug API of a running agent, checked against a model: every PUT and
// DELETE answers what the model predicts, a refused write changes no resource at all, and after each
// sequence the members, the endpoints derived from them and the balancer are exactly as the model says.
// Valid members sit on 127.0.0.201-254 (nothing listens there): the balancer checks them, finds them
// down and keeps sending everything to the one real upstream.

let t: ApiAgent;
const tally = { created: 0, replaced: 0, refused: 0, deleted: 0, missing: 0 };

beforeAll(async () => {
  t = await startApiAgent(14);
});

afterAll(async () => {
  console.info(
    `API member lists: ${tally.created} created, ${tally.replaced} replaced, ${tally.deleted} deleted, ${tally.refused} refused (nothing changed), ${tally.missing} deletes of absent ones`,
  );
  await t?.stop();
});

type Op = { kind: 'put'; id: string; spec: unknown; yaml: boolean } | { kind: 'delete'; id: string };

// Ids follow the runtime's rule (any printable string, "/" and spaces included, up to 1024 characters).
const ids = fc.constantFrom('cp-a', 'cp-b', 'w-1', 'node.example.com', 'a b/c', '-lead', 'bad\tid', 'x'.repeat(RESOURCE_ID_MAX_LENGTH + 1));
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('put' as const), id: ids, spec: validMemberSpec, yaml: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('put' as const), id: ids, spec: junkMemberSpec, yaml: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), id: ids }) },
);

const route = (id: string): string => `/v1/resources/members/${encodeURIComponent(id)}`;
const usableId = (id: string): boolean => resourceIdProblem(id) === undefined;

interface ErrorBody {
  error: { code: string; message: string; issues?: Array<{ path: string; message: string }> };
}

/** Runs one operation and checks the answer against the model (updated in place). */
async function apply(o: Op, model: Map<string, MemberSpec>): Promise<void> {
  if (o.kind === 'delete') {
    const res = await call(t.base, 'DELETE', route(o.id));
    const want = model.has(o.id) ? 200 : usableId(o.id) ? 404 : 400;
    expect(res.status, `DELETE ${o.id}: ${res.text}`).toBe(want);
    if (want === 200) {
      model.delete(o.id);
      tally.deleted++;
      await endpointsSettled(t.f);
    } else tally.missing++;
    return;
  }
  const body = o.yaml ? stringify({ spec: o.spec }) : JSON.stringify({ spec: o.spec });
  const before = await resourceSnapshot(t.f.state, LIVE_TYPES);
  const res = await call(t.base, 'PUT', route(o.id), body, o.yaml ? 'application/yaml' : 'application/json');
  const parsed = memberSpecSchema.safeParse(o.spec);
  if (usableId(o.id) && parsed.success) {
    expect(res.status, `PUT ${o.id} ${body}: ${res.text}`).toBe(model.has(o.id) ? 200 : 201);
    tally[model.has(o.id) ? 'replaced' : 'created']++;
    expect((res.json() as { spec: unknown }).spec).toEqual(parsed.data);
    model.set(o.id, parsed.data);
    await endpointsSettled(t.f); // the endpoints follow before the next write is judged
    return;
  }
  tally.refused++;
  expect(res.status, `PUT ${o.id} ${body}: ${res.text}`).toBe(400);
  const { error } = res.json() as ErrorBody;
  expect(error.code).toMatch(/^KP_ERR_(BAD_REQUEST|VALIDATION)$/);
  expect(error.message.length).toBeGreaterThan(0);
  if (error.code === 'KP_ERR_VALIDATION') {
    // A spec that fails its schema: every issue names the field, from the body's root (`spec.addresses.0`).
    expect(error.issues?.length).toBeGreaterThan(0);
    for (const issue of error.issues ?? []) expect(issue.path).toMatch(/^spec(\.|$)/);
  }
  expect(await resourceSnapshot(t.f.state, LIVE_TYPES)).toEqual(before);
}

describe('reliability: random member lists through the API of a running agent (fast-check)', () => {
  it('every write answers as the model predicts; members, endpoints and balancer end as the model says', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
        const model = new Map<string, MemberSpec>();
        try {
          for (const o of ops) await apply(o, model);
          const listed = (await call(t.base, 'GET', '/v1/resources/members')).json() as Array<{
            metadata: { id: string; labels: Record<string, string> };
            spec: unknown;
          }>;
          expect(listed.map((m) => [m.metadata.id, m.spec, m.metadata.labels['kubeprism.dev/source']])).toEqual(
            [...model.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, spec]) => [id, spec, 'api']),
          );
          await endpointsSettled(t.f);
          expect(await whoAnswers('127.0.0.1', t.port)).toBe(t.upstream.name);
        } finally {
          for (const id of model.keys()) await call(t.base, 'DELETE', route(id));
          await endpointsSettled(t.f);
        }
      }),
      { numRuns: runs(30) },
    );
  });
});
