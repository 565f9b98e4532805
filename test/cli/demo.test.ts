import { describe, expect, it } from 'vitest';
import { fit, formatStatus, visibleLength, type DemoServer, type DemoStatus } from '../../examples/demo/status-view.js';
import { splitKeys } from '../../examples/demo/terminal.js';

// The demo's screen and keys: every line within 80 columns whatever the content, and every key of a burst.

const servers: DemoServer[] = [
  { key: '1', label: 'external-lb', address: '127.0.0.11:65001', running: true },
  { key: '2', label: 'cp-1', address: '127.0.0.12:65002', running: false },
  { key: '3', label: 'cp-2', address: '127.0.0.13:65003', running: true },
];

const upstream = (id: string, host: string, port: number, extra: object) => ({
  id,
  spec: { host, port, healthy: true, score: 5, tier: 3, latencyMs: 40.123, activeConnections: 1234, ...extra },
});

const data: DemoStatus = {
  status: {
    host: '127.0.0.1:7445',
    healthy: false,
    listening: true,
    error:
      'no healthy upstream (127.0.0.11:65001: connect ECONNREFUSED 127.0.0.11:65001; 127.0.0.12:65002: health check timed out after 500 ms)',
  },
  upstreams: [
    upstream('127.0.0.11:65001', '127.0.0.11', 65001, {}),
    upstream('127.0.0.12:65002', '127.0.0.12', 65002, {
      healthy: false,
      score: -5,
      lastError: 'connect ECONNREFUSED 127.0.0.12:65002 after a very long explanation that goes on and on',
    }),
    upstream('[fd00:1234:5678::abcd]:65535', 'fd00:1234:5678::abcd', 65535, { latencyMs: 12345.678 }),
  ],
  endpoints: [
    { host: '127.0.0.11', port: 65001, source: 'clusterEndpoint' },
    { host: '127.0.0.12', port: 65002, source: 'member', member: 'cp-1' },
  ],
};
const traffic = { ok: 123456789, failed: 987654, lastAnswer: 'external-lb' };

describe('demo status screen', () => {
  it.each([true, false])('fits 80 columns, colours %s', (color) => {
    const screen = formatStatus(data, servers, traffic, { color, width: 80 });
    const lines = screen.split('\n');
    for (const line of lines) expect(visibleLength(line), line).toBeLessThanOrEqual(80);
    const plain = screen.replace(/\x1b\[[0-9;]*m/g, ''); // eslint-disable-line no-control-regex
    expect(plain).toMatch(/^KEY +SERVER +UPSTREAM +SOURCE +HEALTH +TIER +LATENCY +SCORE +CONNS$/m);
    expect(plain).toMatch(/^1 +external-lb +127\.0\.0\.11:65001 +endpoint +healthy +<100ms +40\.1 ms +5 +1234$/m);
    expect(plain).toContain('cp-1: connect ECONNREFUSED 127.0.0.12:65002');
    expect(plain).toContain('Stopped: cp-1 (key 2)');
  });

  it('fits a narrower terminal too', () => {
    for (const line of formatStatus(data, servers, traffic, { color: true, width: 50 }).split('\n'))
      expect(visibleLength(line)).toBeLessThanOrEqual(50);
  });

  it('cuts a line with an ellipsis and a colour reset, never inside a colour code', () => {
    expect(fit('short', 10)).toBe('short');
    expect(fit('abcdefghij', 10)).toBe('abcdefghij');
    expect(fit('abcdefghijk', 10)).toBe('abcdefghi…\x1b[0m');
    const coloured = fit(`\x1b[31m${'x'.repeat(20)}\x1b[39m`, 5);
    expect(coloured).toBe('\x1b[31mxxxx…\x1b[0m');
    expect(visibleLength(coloured)).toBe(5);
  });
});

describe('demo keys', () => {
  it('handles every key of a burst (typed fast or pasted), an escape sequence as one key', () => {
    expect(splitKeys('1')).toEqual(['1']);
    expect(splitKeys('123q')).toEqual(['1', '2', '3', 'q']);
    expect(splitKeys('1\x1b[A2')).toEqual(['1', '\x1b[A', '2']); // an arrow between them toggles nothing
    expect(splitKeys('\x1b[15~3\x03')).toEqual(['\x1b[15~', '3', '\x03']);
    expect(splitKeys('')).toEqual([]);
  });
});
