import { createServer, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { IllegalTransitionError } from '../../src/loadbalancer/errors.js';
import type { ConnectionHost, ConnectionState } from '../../src/loadbalancer/connection-host.js';
import { ProxiedConnection } from '../../src/loadbalancer/proxied-connection.js';
import type { ProxyUpstream } from '../../src/loadbalancer/proxy-types.js';
import { ReadBufferPool } from '../../src/loadbalancer/read-buffers.js';
import { FakeClock } from '../harness/fake-clock.js';
import { closeServer, connectTo, listen, loopback, unacceptingListener } from '../harness/ports.js';
import { readLine } from '../harness/tcp-server.js';
import { waitFor, waitForEvent } from '../harness/wait.js';
import { startTcp } from './fixtures.js';

// The state machine alone, with real sockets and a recording host in place of the proxy: the states it
// goes through for each sequence of events, what it reports, and that an event its state does not allow
// is thrown as a bug rather than ignored.

/** An upstream as the proxy sees it. */
function upstream(endpoint: { host: string; port: number }): ProxyUpstream {
  return { ...endpoint, stats: { totalConnections: 0, dialFailures: 0, bytesIn: 0, bytesOut: 0 } };
}

/** A read-buffer pool that counts what is taken and given back. */
class CountingPool extends ReadBufferPool {
  out = 0;
  override take(): Buffer {
    this.out++;
    return super.take();
  }
  override give(buffer: Buffer): void {
    this.out--;
    super.give(buffer);
  }
}

/** A host that hands out `candidates` in turn and records what the connection reports. */
function recordingHost(candidates: ProxyUpstream[]) {
  const counts = new Map<ProxyUpstream, number>();
  const reports: string[] = [];
  const buffers = new CountingPool();
  let done = false;
  const host: ConnectionHost<ProxyUpstream> = {
    clock: new FakeClock(),
    buffers,
    options: () => ({ maxConnections: 10, stallTimeoutMs: 30_000, dialTimeoutMs: 1_000, firstByteTimeoutMs: 1_000 }),
    pick: (tried) => candidates.find((c) => !tried.has(c)),
    join: (_, u) => void counts.set(u, (counts.get(u) ?? 0) + 1),
    leave: (_, u) => void counts.set(u, (counts.get(u) ?? 0) - 1),
    watchDeadline: () => undefined,
    connected: () => undefined,
    dialFailed: (u, err) => void reports.push(`dial failed ${u.port}: ${err.message}`),
    moved: (from) => void reports.push(`moved from ${from.port}`),
    closedUnanswered: (from, reason) => void reports.push(`closed unanswered ${from.port}: ${reason}`),
    gaveUp: (tried) => void reports.push(`gave up after ${tried}`),
    socketError: () => undefined,
    finished: () => {
      reports.push('finished');
      done = true;
    },
    failed: (_, err, state, event) => {
      reports.push(`failed in ${state} on ${event}: ${(err as Error).message}`);
      done = true;
    },
  };
  return { host, counts, reports, buffers, finished: () => waitFor(() => done, { description: 'the connection to finish', pollMs: 5 }) };
}

/**
 * A client socket and the proxied connection made of its accepted end (paused, as the listener hands it
 * over), with the states it goes through.
 */
async function accepted(host: ConnectionHost<ProxyUpstream>, keepForReplay = true, flowing = false) {
  const front = createServer({ pauseOnConnect: !flowing, allowHalfOpen: true });
  const port = await listen(front, loopback(4));
  const arrived = waitForEvent<Socket>(front, 'connection', 'the accepted client');
  const client = await connectTo(loopback(4), port);
  client.on('error', () => undefined);
  const socket = await arrived;
  onTestFinished(() => {
    client.destroy();
    socket.destroy();
    return closeServer(front);
  });
  const conn = new ProxiedConnection(socket, host, keepForReplay);
  return { client, conn, states: trace(conn) };
}

/** Record every state `conn` enters. */
function trace(conn: ProxiedConnection<ProxyUpstream>): ConnectionState[] {
  let state = conn.state;
  const seen = [state];
  Object.defineProperty(conn, 'state', {
    get: () => state,
    set: (next: ConnectionState) => {
      state = next;
      seen.push(next);
    },
  });
  return seen;
}

describe('ProxiedConnection', () => {
  it('dialing → awaiting → relaying → closing → done, counted against its upstream from dial to done', async () => {
    const echo = await startTcp('echo', 2); // greets first, echoes, ends after the client ends
    const u = upstream(echo.endpoint);
    const { host, counts, reports, buffers, finished } = recordingHost([u]);
    const { client, conn, states } = await accepted(host);
    conn.start();
    expect([conn.state, counts.get(u)]).toEqual(['dialing', 1]); // counted while dialing already
    expect(await readLine(client)).toBe('echo');
    client.end('hello\n');
    await finished();
    expect(states).toEqual(['dialing', 'awaiting', 'relaying', 'closing', 'done']);
    expect(counts.get(u)).toBe(0);
    expect(reports).toEqual(['finished']);
    expect(u.stats).toEqual({ totalConnections: 1, dialFailures: 0, bytesIn: 'echo\nhello\n'.length, bytesOut: 'hello\n'.length });
    expect(buffers.out).toBe(0); // the read buffer went back to the pool
  });

  it('without the retry it goes from dialing straight to relaying', async () => {
    const echo = await startTcp('echo', 2);
    const { host, finished } = recordingHost([upstream(echo.endpoint)]);
    const { client, conn, states } = await accepted(host, false);
    conn.start();
    expect(await readLine(client)).toBe('echo');
    client.end();
    await finished();
    expect(states).toEqual(['dialing', 'relaying', 'closing', 'done']);
  });

  it('no upstream to dial: dialing → closing → done, the client closed and the give-up reported', async () => {
    const { host, reports, finished } = recordingHost([]);
    const { client, conn, states } = await accepted(host);
    const ended = waitForEvent(client, 'end', 'the end from the proxy');
    conn.start();
    await ended;
    await finished();
    expect(states).toEqual(['dialing', 'closing', 'done']);
    expect(reports).toEqual(['gave up after 0', 'finished']);
  });

  it('a failed dial tries the next candidate (dialing → dialing), reporting the failure', async () => {
    const gone = await startTcp('gone', 2);
    await gone.stop();
    const echo = await startTcp('echo', 3);
    const [a, b] = [upstream(gone.endpoint), upstream(echo.endpoint)];
    const { host, counts, reports, buffers, finished } = recordingHost([a, b]);
    const { client, conn, states } = await accepted(host);
    conn.start();
    expect(await readLine(client)).toBe('echo');
    expect([counts.get(a), counts.get(b)]).toEqual([0, 1]);
    client.end();
    await finished();
    expect(states).toEqual(['dialing', 'dialing', 'awaiting', 'relaying', 'closing', 'done']);
    expect(reports).toEqual([`dial failed ${a.port}: connect ECONNREFUSED ${a.host}:${a.port}`, 'finished']);
    expect(buffers.out).toBe(0);
  });

  it('the client reset while dialing the next upstream: dialing → closing → done, the dial dropped', async () => {
    const silent = await startTcp('silent', 2, { handler: (s) => void s.resume() });
    const stuck = await unacceptingListener(loopback(3));
    onTestFinished(() => stuck.close());
    const held = [await connectTo(stuck.host, stuck.port), await connectTo(stuck.host, stuck.port)]; // its queue is full
    onTestFinished(() => held.forEach((s) => s.destroy()));
    const [a, b] = [upstream(silent.endpoint), upstream(stuck)];
    const { host, counts, reports, buffers, finished } = recordingHost([a, b]);
    const { client, conn, states } = await accepted(host);
    conn.start();
    client.write('hello\n');
    await waitFor(() => a.stats.totalConnections === 1 && conn.bytesToUpstream() === 6, { description: 'the bytes sent', pollMs: 5 });
    expect(conn.tearDown(true)).toBe('moved'); // to the stuck one: its dial hangs
    client.resetAndDestroy();
    await finished();
    expect(states).toEqual(['dialing', 'awaiting', 'dialing', 'closing', 'done']);
    expect(reports).toEqual([`moved from ${a.port}`, 'finished']); // not the upstream's fault
    expect([counts.get(a), counts.get(b), b.stats.totalConnections, buffers.out]).toEqual([0, 0, 0, 0]);
  });

  it('torn down for its upstream while awaiting the answer: it moves, and the next upstream gets the bytes replayed', async () => {
    const kept: Buffer[] = [];
    const silent = await startTcp('silent', 2, { handler: (s) => void s.on('data', (d: Buffer) => kept.push(d)).resume() });
    const echo = await startTcp('echo', 3, { handler: (s) => void s.pipe(s) });
    const [a, b] = [upstream(silent.endpoint), upstream(echo.endpoint)];
    const { host, counts, reports, finished } = recordingHost([a, b]);
    const { client, conn, states } = await accepted(host);
    conn.start();
    client.write('hello\n');
    await waitFor(() => kept.length > 0, { description: 'the bytes at the silent upstream', pollMs: 5 });
    expect(conn.state).toBe('awaiting');
    expect(conn.tearDown(true)).toBe('moved');
    expect([conn.state, counts.get(a), counts.get(b)]).toEqual(['dialing', 0, 1]);
    expect(await readLine(client)).toBe('hello');
    client.end();
    await finished();
    expect(states).toEqual(['dialing', 'awaiting', 'dialing', 'awaiting', 'relaying', 'closing', 'done']);
    expect(reports).toEqual([`moved from ${a.port}`, 'finished']);
    expect([a.stats.bytesOut, b.stats.bytesOut]).toEqual([6, 6]);
  });

  it('torn down while relaying: closed; an event its state does not allow is thrown as a bug', async () => {
    const echo = await startTcp('echo', 2);
    const { host, finished } = recordingHost([upstream(echo.endpoint)]);
    const { client, conn, states } = await accepted(host);
    conn.start();
    expect(await readLine(client)).toBe('echo');
    expect(() => conn.answerTimedOut()).toThrow(IllegalTransitionError); // it has answered: nothing to time out
    expect(() => conn.dialFailed(new Error('late'))).toThrow(IllegalTransitionError);
    expect(conn.state).toBe('relaying'); // unchanged by the refused events
    expect(conn.tearDown(true)).toBe('closed'); // answered: closed, never moved
    expect(conn.tearDown(false)).toBe('closing'); // already going
    await finished();
    expect(states).toEqual(['dialing', 'awaiting', 'relaying', 'closing', 'done']);
    const err = (() => {
      try {
        conn.tearDown(false);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(IllegalTransitionError);
    expect(err).toMatchObject({ code: 'KP_ERR_ILLEGAL_TRANSITION', from: 'done', event: 'torn down' });
  });

  it('reads the client into pooled buffers (the adopted socket), or through data events when it cannot', async () => {
    for (const flowing of [false, true]) {
      const echo = await startTcp('echo', 2, { handler: (s) => void s.pipe(s) });
      const { host, buffers, finished } = recordingHost([upstream(echo.endpoint)]);
      const { client, conn, states } = await accepted(host, true, flowing);
      expect(conn.client.listenerCount('data')).toBe(flowing ? 1 : 0); // 'data' only where it could not be adopted
      conn.start();
      const big = Buffer.alloc(300 * 1024, flowing ? 'f' : 'p'); // through the large buffers, both ways
      let back = 0;
      client.on('data', (d: Buffer) => (back += d.length));
      client.end(big);
      await waitFor(() => back === big.length, { description: 'the echo of 300 KiB', pollMs: 5 });
      await finished();
      expect(states.at(-1)).toBe('done');
      expect(buffers.out).toBe(0); // every large buffer back in the pool
    }
  });

  it('activity() grows with the bytes of either side, and only then', async () => {
    const echo = await startTcp('echo', 2, { handler: (s) => void s.pipe(s) });
    const { host } = recordingHost([upstream(echo.endpoint)]);
    const { client, conn } = await accepted(host);
    conn.start();
    const before = conn.activity();
    client.write('ping\n');
    expect(await readLine(client)).toBe('ping');
    const after = conn.activity();
    expect(after).toBe(before + 2 * 'ping\n'.length); // in from the client, back from the upstream
    expect(conn.activity()).toBe(after);
  });
});
