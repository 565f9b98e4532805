import { afterEach, describe, expect, it } from 'vitest';
import {
  KUBEPRISM_CONFIG_ID,
  KubePrismConfigType,
  MACHINE_CONFIG_ID,
  MachineConfigStatusType,
  MachineConfigType,
} from '../../src/resources/index.js';
import { ptr } from '../../src/runtime/index.js';
import { BALANCER_DEFAULTS } from '../../src/loadbalancer/settings.js';
import { CONFIG_SOURCE_OWNER } from '../../src/agent/machine-config-source.js';
import { v1alpha1Config } from '../harness/configs.js';
import { eventuallyResource } from '../harness/eventually.js';
import { startChain, type ChainHarness } from './chain.js';

const id = ptr(KubePrismConfigType, KUBEPRISM_CONFIG_ID);
let h: ChainHarness;
afterEach(async () => h?.close());

describe('KubePrismConfigController', () => {
  it('exists with defaults when the config says nothing, and follows disable / re-enable / port changes', async () => {
    h = await startChain((c) => c.filter((x) => x.name === 'KubePrismConfigController'));
    expect(await h.config.apply(v1alpha1Config(), 'test')).toMatchObject({ applied: true });
    const first = await eventuallyResource(h.state, id, (r) => {
      expect(r?.spec).toEqual({ host: '127.0.0.1', port: 7445, listenAddresses: ['127.0.0.1'], ...BALANCER_DEFAULTS });
      // The balancer's own defaults, as they stand today.
      expect(r?.spec).toMatchObject({
        healthCheck: { mode: 'readyz', intervalMs: 5000, timeoutMs: 2000, jitter: 0.2 },
        firstByteTimeoutMs: 1000,
        closeConnectionsOnDown: true,
        maxConnections: 8192,
      });
      return r!;
    });
    expect(first.metadata.owner).toBe('KubePrismConfigController');

    await h.config.apply(v1alpha1Config({ kubePrism: { enabled: false } }), 'test');
    await eventuallyResource(h.state, id, (r) => expect(r).toBeUndefined());

    await h.config.apply(v1alpha1Config({ kubePrism: { enabled: true, port: 7445 } }), 'test');
    await eventuallyResource(h.state, id, (r) => expect(r?.spec.port).toBe(7445));

    await h.config.apply(v1alpha1Config({ kubePrism: { enabled: true, port: 7450 } }), 'test');
    await eventuallyResource(h.state, id, (r) => expect(r?.spec.port).toBe(7450));
  });

  it('carries the agent settings and tlsServerName (Talos 1.15 document form)', async () => {
    h = await startChain((c) => c.filter((x) => x.name === 'KubePrismConfigController'));
    const text = `${v1alpha1Config()}\n---\napiVersion: v1alpha1\nkind: KubePrismConfig\nport: 7446\ntlsServerName: api.example.com\nhealthCheck: {mode: tcp, interval: 1m, timeout: 500ms, jitter: 0.1, firstByteTimeout: 250ms}\nlistenIPv6: true\ncloseConnectionsOnDown: false\nmaxConnections: 100\n`;
    expect(await h.config.apply(text, 'test')).toMatchObject({ applied: true });
    await eventuallyResource(h.state, id, (r) =>
      expect(r?.spec).toEqual({
        ...BALANCER_DEFAULTS,
        host: '127.0.0.1',
        port: 7446,
        listenAddresses: ['127.0.0.1', '::1'],
        tlsServerName: 'api.example.com',
        healthCheck: { mode: 'tcp', intervalMs: 60_000, timeoutMs: 500, jitter: 0.1 },
        firstByteTimeoutMs: 250,
        closeConnectionsOnDown: false,
        maxConnections: 100,
      }),
    );
  });

  it('keeps everything at its old version when a bad config is offered, and reports the error', async () => {
    h = await startChain();
    await h.config.apply(v1alpha1Config({ kubePrism: { enabled: true, port: 7445 } }), 'test');
    const before = await eventuallyResource(h.state, id, (r) => {
      expect(r?.spec.port).toBe(7445);
      return r!;
    });
    const mcBefore = await h.state.get(ptr(MachineConfigType, MACHINE_CONFIG_ID));
    const result = await h.config.apply(v1alpha1Config({ kubePrism: { enabled: true, port: 70000 } }), 'api');
    expect(result).toMatchObject({
      applied: false,
      issues: [{ path: 'machine.features.kubePrism.port', message: expect.stringMatching(/1-65535/) }],
    });
    const status = await h.state.get(ptr(MachineConfigStatusType, MACHINE_CONFIG_ID));
    expect(status.spec.lastError).toMatchObject({ source: 'api', issues: [{ path: 'machine.features.kubePrism.port' }] });
    expect(status.spec.appliedVersion).toBe(mcBefore.metadata.version);
    expect((await h.state.get(ptr(MachineConfigType, MACHINE_CONFIG_ID))).metadata.version).toBe(mcBefore.metadata.version);
    // Every controller has run its rounds; nothing may move.
    await h.engine.settled();
    expect((await h.state.get(id)).metadata.version).toBe(before.metadata.version);
    // The next good config clears the error.
    await h.config.apply(v1alpha1Config({ kubePrism: { enabled: true, port: 7446 } }), 'api');
    const cleared = await h.state.get(ptr(MachineConfigStatusType, MACHINE_CONFIG_ID));
    expect(cleared.spec.lastError).toBeUndefined();
    expect(cleared.metadata.owner).toBe(CONFIG_SOURCE_OWNER);
  });

  it('follows the view stored with the machine config, never re-reading its documents', async () => {
    h = await startChain((c) => c.filter((x) => x.name === 'KubePrismConfigController'));
    await h.config.apply(v1alpha1Config(), 'test');
    await eventuallyResource(h.state, id, (r) => expect(r?.spec.port).toBe(7445));
    // A view that disagrees with the documents (no source would store that): the controller goes by the view.
    await h.state.modify(ptr(MachineConfigType, MACHINE_CONFIG_ID), (d) => void (d.spec.view.kubePrism.port = 7999), {
      owner: CONFIG_SOURCE_OWNER,
    });
    await eventuallyResource(h.state, id, (r) => expect(r?.spec.port).toBe(7999));
  });

  it('removes what it produced when the machine config is destroyed', async () => {
    h = await startChain((c) => c.filter((x) => x.name === 'KubePrismConfigController'));
    await h.config.apply(v1alpha1Config(), 'test');
    await eventuallyResource(h.state, id, (r) => expect(r).toBeDefined());
    await h.state.teardownAndDestroy(ptr(MachineConfigType, MACHINE_CONFIG_ID), { owner: CONFIG_SOURCE_OWNER });
    await eventuallyResource(h.state, id, (r) => expect(r).toBeUndefined());
  });
});
