import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, ApiResponseError } from '../../src/api/client.js';
import type { Resource } from '../../src/runtime/index.js';
import { call, startTestApi, type TestApi } from './helpers.js';

// Resource ids are any non-empty printable string (COSI's rule): "/" and spaces included. The client
// escapes them; the API decodes each path segment, so an escaped "/" stays inside the id.

let t: TestApi;
let client: ApiClient;
beforeAll(async () => {
  t = await startTestApi();
  client = new ApiClient(t.address);
});
afterAll(async () => t?.stop());

const member = (hostname: string) => ({
  nodeId: hostname,
  hostname,
  machineType: 'controlplane',
  addresses: ['10.0.0.5'],
  controlPlane: { apiServerPort: 6443 },
});

const ids = (list: Resource[]): string[] => list.map((r) => r.metadata.id);

describe('debug API: resource ids beyond node names', () => {
  it.each(['rack-1/node-a', '/leading/slash', 'with space', '..', '.', '%2F literally', 'ünï/🚀'])(
    'PUTs, GETs, lists, watches and DELETEs a member whose id is %j',
    async (id) => {
      const put = await client.put('members', id, member('host-a'));
      expect(put.metadata.id).toBe(id);
      expect((await client.get('members', id)).metadata.id).toBe(id);
      expect(ids(await client.list('members'))).toContain(id);
      // A watch of that one id sees it (and only it).
      const abort = new AbortController();
      const lines = [];
      for await (const line of client.watch('members', { id, signal: abort.signal })) {
        lines.push(line);
        if (line.event === 'bootstrapped') abort.abort();
      }
      expect(lines.map((l) => (l.event === 'bootstrapped' ? l.event : `${l.event} ${l.resource.metadata.id}`))).toEqual([
        `created ${id}`,
        'bootstrapped',
      ]);
      expect((await client.delete('members', id)).metadata.id).toBe(id);
      await expect(client.get('members', id)).rejects.toMatchObject({ status: 404, code: 'KP_ERR_NOT_FOUND' });
      expect(ids(await client.list('members'))).not.toContain(id);
    },
  );

  it('keeps an escaped "/" inside the id, where a raw "/" is another path segment', async () => {
    const created = await call(t.base, 'PUT', '/v1/resources/members/zone%2Fnode', JSON.stringify({ spec: member('z') }));
    expect(created.status).toBe(201);
    expect((created.json() as Resource).metadata.id).toBe('zone/node');
    expect((await call(t.base, 'GET', '/v1/resources/members/zone%2Fnode')).status).toBe(200);
    expect((await call(t.base, 'GET', '/v1/resources/members/zone/node')).status).toBe(404);
    expect((await call(t.base, 'DELETE', '/v1/resources/members/zone%2Fnode')).status).toBe(200);
  });

  it('refuses ids the runtime refuses, with a 400 naming the problem', async () => {
    for (const id of ['line\nbreak', 'x'.repeat(1025)]) {
      const err = await client.put('members', id, member('h')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiResponseError);
      expect(err).toMatchObject({
        status: 400,
        code: 'KP_ERR_BAD_REQUEST',
        issues: [{ path: 'metadata.id', message: expect.any(String) }],
      });
    }
  });
});
