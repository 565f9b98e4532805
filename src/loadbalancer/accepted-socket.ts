import { Socket, type OnReadOpts } from 'node:net';

/** The parts of an accepted socket this module reaches for: its libuv handle and its server (not public API). */
interface WithHandle {
  _handle?: { readStart?: unknown; useUserBuffer?: unknown } | null;
  /** The server that counts the connection until the socket is destroyed (`_server`), and its alias. */
  _server?: unknown;
  server?: unknown;
}

/** What `net.Socket` takes to wrap an existing handle (what `net.Server` itself passes; not in the typings). */
interface HandleOptions {
  handle: unknown;
  allowHalfOpen: boolean;
  pauseOnCreate: boolean;
  onread: OnReadOpts;
}

/**
 * The accepted client socket reading into `onread` buffers from now on, or undefined when this Node does
 * not allow it (the caller then reads the client through 'data' events: one allocation per read).
 *
 * Node takes `onread` only when a socket is constructed, and `net.Server` constructs accepted sockets
 * itself, without one; Node 20 offers no public way in. So a second `net.Socket` is built on the accepted
 * one's handle, as the server builds its own (`new Socket({ handle, pauseOnCreate, ... })`), before
 * anything was read (the listener accepts paused); the first socket is left without a handle or server,
 * inert, and the new one is counted by the server in its place (so `server.close(callback)` still waits
 * for it, and `getConnections` is right). Node 20 and 22 build accepted sockets this way; anything else
 * falls back to 'data' events.
 */
export function adoptAccepted(accepted: Socket, onread: OnReadOpts): Socket | undefined {
  const holder = accepted as unknown as WithHandle;
  const handle = holder._handle;
  if (
    handle === null ||
    handle === undefined ||
    typeof handle.readStart !== 'function' ||
    typeof handle.useUserBuffer !== 'function' ||
    !accepted.isPaused() ||
    accepted.readableLength > 0
  ) {
    return undefined;
  }
  const options: HandleOptions = { handle, allowHalfOpen: accepted.allowHalfOpen, pauseOnCreate: true, onread };
  const adopted = new Socket(options);
  const taken = adopted as unknown as WithHandle;
  taken._server = holder._server;
  taken.server = holder.server;
  holder._handle = null;
  holder._server = null;
  holder.server = null;
  return adopted;
}
