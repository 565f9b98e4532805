import { request } from 'node:http';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { v1alpha1Config } from '../harness/configs.js';
import { freePort, loopback } from '../harness/ports.js';

/** What an HTTP GET answered. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One HTTP request over TCP (`host`, `port`) or a unix socket (`socketPath`), no keep-alive. */
export function httpRequest(
  target: { host: string; port: number } | { socketPath: string },
  urlPath: string,
  method = 'GET',
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ ...target, path: urlPath, method, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no answer within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** `host:port` (IPv6 in brackets) → its parts. */
export function splitAddress(text: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  if (!match) throw new Error(`not a host:port: ${text}`);
  return { host: match[1]!, port: Number(match[2]) };
}

/** Metric names (and label sets) of a Prometheus text exposition, without values: two scrapes compare equal. */
export function seriesOf(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.slice(0, line.lastIndexOf(' ')))
    .sort();
}

/**
 * Writes `config.yaml` in `dir`: a worker whose cluster endpoint is an address nothing listens on (the
 * agent runs, its upstream is merely unhealthy) and KubePrism on a port that was free a moment ago.
 */
export async function writeAgentConfig(dir: string, endpointHost = loopback(199)): Promise<{ configPath: string; kubePrismPort: number }> {
  const kubePrismPort = await freePort();
  const endpointPort = await freePort(endpointHost);
  const configPath = path.join(dir, 'config.yaml');
  await writeFile(
    configPath,
    v1alpha1Config({
      machineType: 'worker',
      endpoint: `https://${endpointHost}:${endpointPort}`,
      kubePrism: { enabled: true, port: kubePrismPort, healthCheck: { mode: 'tcp', interval: '1s', timeout: '500ms' } },
    }),
  );
  return { configPath, kubePrismPort };
}
