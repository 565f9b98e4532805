import { createServer } from 'node:net';

// eslint-disable-next-line no-control-regex
const KEY = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1bO.|\x1b.?|[\s\S]/gu;

/**
 * Splits one 'data' chunk from a raw terminal into keys. Typed fast or pasted, several keys arrive in
 * one chunk and each must count; an escape sequence (an arrow, a function key) is one key, not several.
 */
export function splitKeys(chunk: string): string[] {
  return chunk.match(KEY) ?? [];
}

/** Why `host:port` cannot be listened on right now (`EADDRINUSE`, `EACCES`…), or undefined when it can. */
export function probePort(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/** A port that is free on `host` at this moment, to suggest in place of a taken one. */
export function suggestPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
