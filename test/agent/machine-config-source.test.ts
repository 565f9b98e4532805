import { describe, expect, it } from 'vitest';
import { MachineConfigSource } from '../../src/agent/machine-config-source.js';
import { MACHINE_CONFIG_ID, MachineConfigStatusType, registerKubeprismTypes } from '../../src/resources/index.js';
import { createState, ptr, silentLogger } from '../../src/runtime/index.js';
import { v1alpha1Config } from '../harness/configs.js';

describe('MachineConfigSource', () => {
  it('an unreadable source reported while an apply runs stays reported (status writes go in turn)', async () => {
    const state = await createState();
    await registerKubeprismTypes(state);
    const source = new MachineConfigSource(state, silentLogger(), undefined);
    const text = v1alpha1Config({ machineType: 'worker', endpoint: 'https://127.0.0.1:6443', kubePrism: { enabled: false } });
    // Not awaited: the file turns unreadable while an API apply is still being processed.
    const applied = source.apply(text, 'api');
    const reported = source.reportUnreadable('file:/etc/kubeprism/config.yaml', new Error('ENOENT: no such file'));
    await Promise.all([applied, reported]);
    const status = (await state.get(ptr(MachineConfigStatusType, MACHINE_CONFIG_ID))).spec;
    expect(status).toMatchObject({ source: 'api', appliedVersion: 1 });
    expect(status.lastError).toMatchObject({ source: 'file:/etc/kubeprism/config.yaml', message: expect.stringContaining('ENOENT') });
  });
});
