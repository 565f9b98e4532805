import { describe, expect, it } from 'vitest';
import { MachineConfigSource } from '../../src/agent/machine-config-source.js';
import { followMetricsAddress, type MetricsListener } from '../../src/agent/metrics-address.js';
import type { ListenAddress } from '../../src/config/index.js';
import { registerKubeprismTypes } from '../../src/resources/index.js';
import { createLogger, createState } from '../../src/runtime/index.js';
import { v1alpha1Config } from '../harness/configs.js';
import { waitUntil } from '../harness/wait.js';

// metricsAddress in the machine config moves the metrics listener live; --metrics-address wins, and
// the log says the config's address is ignored.

const config = (metricsAddress?: string, clusterName = 'one'): string =>
  v1alpha1Config({ machineType: 'worker', clusterName, kubePrism: { enabled: true, ...(metricsAddress ? { metricsAddress } : {}) } });

async function setup(flag?: string) {
  const state = await createState();
  await registerKubeprismTypes(state);
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const source = new MachineConfigSource(state, logger, undefined);
  const served: Array<ListenAddress | undefined> = [];
  const listener: MetricsListener = {
    serve: async (address) => void served.push(address),
  };
  const follower = followMetricsAddress(state, { listener, logger, ...(flag ? { flag } : {}) });
  return { source, served, lines, follower };
}

describe('metricsAddress from the machine config', () => {
  it('serves where the config says, moves when it changes, stops when it goes; the same address twice is no change', async () => {
    const { source, served, follower } = await setup();
    try {
      await source.apply(config('127.0.0.1:9445'), 'test');
      await waitUntil(() => served.length === 1, 'the first address');
      expect(await source.apply(config('127.0.0.1:9445', 'two'), 'test')).toMatchObject({ applied: true, changed: true });
      await source.apply(config('[::1]:9446'), 'test');
      await source.apply(config(), 'test');
      await waitUntil(() => served.length === 3, 'the move and the stop');
      expect(served).toEqual([{ host: '127.0.0.1', port: 9445 }, { host: '::1', port: 9446 }, undefined]);
    } finally {
      follower.close();
    }
  });

  it('--metrics-address wins: the config address is not served, and the log says why, once per value', async () => {
    const { source, served, lines, follower } = await setup('0.0.0.0:9100');
    try {
      await source.apply(config('127.0.0.1:9445'), 'test');
      expect(await source.apply(config('127.0.0.1:9445', 'two'), 'test')).toMatchObject({ applied: true, changed: true });
      await source.apply(config('127.0.0.1:9446'), 'test');
      const ignored = (): Array<Record<string, unknown>> =>
        lines.filter((l) => l.msg === 'metricsAddress in the machine config is ignored: --metrics-address wins');
      await waitUntil(() => ignored().length === 2, 'two warnings');
      expect(ignored().map((l) => [l.config, l.flag])).toEqual([
        ['127.0.0.1:9445', '0.0.0.0:9100'],
        ['127.0.0.1:9446', '0.0.0.0:9100'],
      ]);
      expect(served).toEqual([]);
    } finally {
      follower.close();
    }
  });
});
