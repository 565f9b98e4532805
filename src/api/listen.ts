import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { ApiAddressError, type ApiAddress } from './address.js';

/**
 * Binds `server` to a TCP address or a unix socket (created with mode 0600, replacing a stale socket
 * file but never a live socket or another kind of file). Resolves with the address actually bound.
 */
export async function bindServer(server: Server, address: ApiAddress): Promise<ApiAddress> {
  if (address.kind === 'unix') await removeStaleSocket(address.path);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    const done = (): void => {
      server.off('error', onError);
      resolve();
    };
    if (address.kind === 'tcp') {
      server.listen({ host: address.host, port: address.port, exclusive: true }, done);
      return;
    }
    // The socket file is created by bind() inside listen(): a tight umask makes it 0600 from birth, so
    // no other user can connect in the moment before the chmod below.
    const previous = process.umask(0o177);
    try {
      server.listen({ path: address.path, exclusive: true }, done);
    } finally {
      process.umask(previous);
    }
  });
  if (address.kind === 'unix') {
    chmodSync(address.path, 0o600);
    return address;
  }
  return { kind: 'tcp', host: address.host, port: (server.address() as AddressInfo).port };
}

/** Removes a unix socket file left by a dead agent; refuses a live one or a file that is not a socket. */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new ApiAddressError(`${path} exists and is not a socket; refusing to replace it`);
  const alive = await new Promise<boolean>((resolve) => {
    const socket = connect({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
  if (alive) throw new ApiAddressError(`another process is already serving on ${path}`);
  unlinkSync(path);
}
