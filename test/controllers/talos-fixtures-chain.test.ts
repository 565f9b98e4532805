import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMachineConfig } from '../../src/config/index.js';
import { httpsURL } from '../../src/controllers/index.js';
import {
  KUBEPRISM_CONFIG_ID,
  KUBEPRISM_ENDPOINTS_ID,
  KubeletConfigType,
  KubePrismConfigType,
  KubePrismEndpointsType,
} from '../../src/resources/index.js';
import { ptr } from '../../src/runtime/index.js';
import { eventually, eventuallyResource, fileChanges } from '../harness/eventually.js';
import { startChain, type ChainHarness } from './chain.js';

const TALOS = path.resolve(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures', 'talos');
const files = existsSync(TALOS)
  ? readdirSync(TALOS)
      .filter((f) => /^v[\d.]+-.*\.yaml$/.test(f))
      .sort()
  : [];

let h: ChainHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe.skipIf(files.length === 0)(`real Talos configs through the whole controller chain (skipped when ${TALOS} is missing)`, () => {
  it.each(files)('%s → KubePrismConfig, endpoints, kubelet config and kubeconfig files', async (file) => {
    const text = await readFile(path.join(TALOS, file), 'utf8');
    const { view } = parseMachineConfig(text);
    const chain = await startChain();
    h = chain;
    expect(await chain.config.apply(text, `file:${file}`)).toMatchObject({ applied: true });
    if (view.kubePrism.enabled) {
      await eventuallyResource(chain.state, ptr(KubePrismConfigType, KUBEPRISM_CONFIG_ID), (r) =>
        expect(r?.spec.port).toBe(view.kubePrism.port),
      );
    }
    await eventuallyResource(chain.state, ptr(KubePrismEndpointsType, KUBEPRISM_ENDPOINTS_ID), (r) =>
      expect(r?.spec.endpoints[0]).toEqual({ host: view.clusterEndpoint.host, port: view.clusterEndpoint.port, source: 'clusterEndpoint' }),
    );
    // No balancer runs here, so KubePrism never listens: the components keep their fallbacks.
    const fallback =
      view.machineType === 'controlplane'
        ? httpsURL('localhost', view.localAPIServerPort)
        : httpsURL(view.clusterEndpoint.host, view.clusterEndpoint.port);
    await eventuallyResource(chain.state, ptr(KubeletConfigType, 'kubelet'), (r) => expect(r?.spec.server).toBe(fallback));
    await eventually(fileChanges(chain.outputDir), async () => {
      const kubeconfig = parse(await readFile(path.join(chain.outputDir, 'kubelet', 'kubeconfig'), 'utf8'));
      expect(kubeconfig.clusters[0].cluster.server).toBe(fallback);
    });
  });
});
