import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { MembersSource } from '../../src/agent/members-source.js';
import { ApiServer, formatApiAddress } from '../../src/api/index.js';
import { MEMBER_SOURCE_LABEL, MemberType } from '../../src/resources/index.js';
import { ptr, silentLogger } from '../../src/runtime/index.js';
import { call } from './helpers.js';

// Members found in Kubernetes belong to the discovery controller: the API refuses to change or delete
// them (403 naming the owner and source), while members fed through the API or a file stay writable.

let dir: string;
let agent: Agent;
let api: ApiServer;
let base: string;
const OWNER = 'KubernetesMembersController';
const spec = (address: string) => ({
  nodeId: address,
  hostname: address,
  machineType: 'controlplane',
  addresses: [address],
  controlPlane: { apiServerPort: 6443 },
});

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubeprism-api-members-'));
  // Controllers are not started: the test writes the discovered member itself, as its controller would.
  agent = await Agent.create({ outputDir: path.join(dir, 'out') });
  api = await ApiServer.listen({ backend: agent, address: '127.0.0.1:0' });
  base = `http://${formatApiAddress(api.address)}`;
});
afterAll(async () => {
  await api?.close();
  await agent?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('debug API: members found by a controller', () => {
  it('answers 403 naming the owner and source to PUT and DELETE, and leaves the member alone', async () => {
    const discovered = await agent.state.modify(
      ptr(MemberType, 'k8s-10.0.0.9'),
      (d) => {
        d.spec = spec('10.0.0.9') as typeof d.spec;
        d.labels[MEMBER_SOURCE_LABEL] = 'kubernetes';
      },
      { owner: OWNER },
    );
    for (const [method, body] of [
      ['PUT', JSON.stringify({ spec: spec('10.0.0.10') })],
      ['DELETE', undefined],
    ] as const) {
      const res = await call(base, method, '/v1/resources/members/k8s-10.0.0.9', body);
      const error = (res.json() as { error: { code: string; message: string } }).error;
      expect([method, res.status, error.code]).toEqual([method, 403, 'KP_ERR_FORBIDDEN']);
      expect(error.message).toBe(
        `${MemberType.type} k8s-10.0.0.9 is owned by ${OWNER} (source kubernetes); the API writes only the ones fed from outside (file, API, embedding agent)`,
      );
    }
    expect(await agent.state.get(discovered.metadata)).toEqual(discovered);
  });

  it('still creates, replaces and deletes members fed from outside', async () => {
    await agent.putMember('cp-file', spec('10.0.0.20') as never, 'file');
    expect((await call(base, 'PUT', '/v1/resources/members/cp-file', JSON.stringify({ spec: spec('10.0.0.21') }))).status).toBe(200);
    expect((await call(base, 'PUT', '/v1/resources/members/cp-api', JSON.stringify({ spec: spec('10.0.0.22') }))).status).toBe(201);
    expect((await call(base, 'DELETE', '/v1/resources/members/cp-file')).status).toBe(200);
    expect((await call(base, 'DELETE', '/v1/resources/members/cp-api')).status).toBe(200);
  });
});

describe('members file: an id held by a controller', () => {
  it('is skipped and reported; the rest of the file applies', async () => {
    const held = await agent.state.get(ptr(MemberType, 'k8s-10.0.0.9'));
    const source = new MembersSource(agent.state, silentLogger());
    const text =
      'members:\n  - {id: k8s-10.0.0.9, hostname: x, machineType: controlplane, addresses: [10.0.0.99], controlPlane: {}}\n  - {id: cp-f, hostname: cp-f, machineType: worker, addresses: [10.0.0.30]}\n';
    expect(await source.syncFile(text, '/etc/members.yaml')).toEqual({ applied: true, upserted: 1, removed: 0, skipped: ['k8s-10.0.0.9'] });
    expect(await agent.state.get(held.metadata)).toEqual(held);
    expect((await agent.state.get(ptr(MemberType, 'cp-f'))).metadata.labels).toEqual({ [MEMBER_SOURCE_LABEL]: 'file' });
  });
});
