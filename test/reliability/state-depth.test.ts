import { describe, expect, it } from 'vitest';
import { MemberType, registerKubeprismTypes } from '../../src/resources/index.js';
import { createState, MAX_SPEC_DEPTH, nestsDeeperThan, ptr } from '../../src/runtime/index.js';

// Absurdly nested data reaching the store (a JSON body parses it without recursion, so it can arrive):
// the store answers with a validation error naming `spec`, as for any other bad spec, not with a stack
// overflow escaping as an internal error, and it keeps working afterwards.

function nestedArrays(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

const member = { nodeId: 'n', hostname: 'h', machineType: 'worker', addresses: ['127.0.0.250'] };

describe('the store with absurdly nested specs', () => {
  it('nestsDeeperThan counts levels of arrays and objects, without recursion', () => {
    expect(nestsDeeperThan('x', 0)).toBe(false);
    expect(nestsDeeperThan({ a: [1, { b: 2 }] }, 3)).toBe(false);
    expect(nestsDeeperThan({ a: [1, { b: {} }] }, 3)).toBe(true);
    expect(nestsDeeperThan(nestedArrays(1_000_000), MAX_SPEC_DEPTH)).toBe(true);
  });

  it('refuses them with a validation error on spec, through modify and create, and keeps working', async () => {
    const state = await createState();
    await registerKubeprismTypes(state);
    const deep = nestedArrays(100_000);
    await expect(state.modify(ptr(MemberType, 'deep'), (d) => void (d.spec = deep as never))).rejects.toMatchObject({
      code: 'KP_ERR_VALIDATION',
      issues: [expect.objectContaining({ path: 'spec' })],
    });
    await expect(
      state.create({ metadata: { namespace: 'cluster', type: MemberType.type, id: 'deep' }, spec: { ...member, extra: deep } }),
    ).rejects.toMatchObject({
      code: 'KP_ERR_VALIDATION',
      issues: [{ path: 'spec', message: `nested more than ${MAX_SPEC_DEPTH} levels deep` }],
    });
    expect(await state.find(ptr(MemberType, 'deep'))).toBeUndefined();
    const stored = await state.modify(ptr(MemberType, 'fine'), (d) => void (d.spec = member as never));
    expect(stored.metadata.version).toBe(1);
  });
});
