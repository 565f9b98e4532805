import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { closeServer, listen } from './ports.js';

/** Where a test server listens. */
export interface Endpoint {
  host: string;
  port: number;
}

/**
 * Common life cycle of the test servers: listen on host:port (0 = ephemeral), count connections,
 * stop (close the listener and destroy every open connection, like a killed process) and restart on
 * the same address and port. Emits `connection` (socket) for event-driven waits.
 */
export abstract class TestServer extends EventEmitter {
  /** Connections accepted since start (all restarts included). */
  totalConnections = 0;
  protected readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private boundPort: number;

  protected constructor(
    /** Identity reported to clients. */
    readonly name: string,
    readonly host: string,
    port: number,
    /** Keep the write side open after the client's FIN (echo servers answer after half-close). */
    private readonly allowHalfOpen: boolean,
  ) {
    super();
    this.boundPort = port;
  }

  /** The bound address (the port stays the same across restarts). */
  get endpoint(): Endpoint {
    return { host: this.host, port: this.boundPort };
  }

  get port(): number {
    return this.boundPort;
  }

  /** Connections open right now. */
  get openConnections(): number {
    return this.sockets.size;
  }

  /** True while listening. */
  get running(): boolean {
    return this.server !== undefined;
  }

  /** Bind again (first start, or after `stop`) on the same host and port. */
  async restart(): Promise<void> {
    if (this.server) return;
    const server = createServer({ pauseOnConnect: true, allowHalfOpen: this.allowHalfOpen }, (socket) => {
      this.totalConnections++;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      this.emit('connection', socket);
      this.accept(socket);
    });
    this.boundPort = await listen(server, this.host, this.boundPort);
    this.server = server;
  }

  /** Stop listening and destroy every open connection (a crashed server, as clients see it). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await closeServer(server);
  }

  /** Same as `stop`: for `afterEach` cleanup lists. */
  close(): Promise<void> {
    return this.stop();
  }

  /** Handle one accepted socket; it arrives paused. */
  protected abstract accept(socket: Socket): void;
}

/** Options of a {@link TcpTestServer}. */
export interface TcpTestServerOptions {
  name: string;
  host?: string;
  port?: number;
  /**
   * What to do with each (paused) connection. Default: write `<name>\n`, then echo everything back and
   * end after the client ends (so half-close can be observed).
   */
  handler?: (socket: Socket, server: TcpTestServer) => void;
}

/** A plain TCP server for proxy tests: identity + echo by default, or any handler. */
export class TcpTestServer extends TestServer {
  private readonly handler: (socket: Socket, server: TcpTestServer) => void;

  private constructor(options: TcpTestServerOptions) {
    super(options.name, options.host ?? '127.0.0.1', options.port ?? 0, true);
    this.handler = options.handler ?? identityEcho;
  }

  /** Start one on an ephemeral port unless `port` says otherwise. */
  static async start(options: TcpTestServerOptions): Promise<TcpTestServer> {
    const server = new TcpTestServer(options);
    await server.restart();
    return server;
  }

  protected accept(socket: Socket): void {
    this.handler(socket, this);
  }
}

/** The default handler: greet with the server's name, then echo; end after the client ends. */
export function identityEcho(socket: Socket, server: TcpTestServer): void {
  socket.write(`${server.name}\n`);
  socket.pipe(socket);
}

/** Read one `\n`-terminated line from `socket` (the rest is pushed back); the socket is left paused. */
export function readLine(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8');
      const i = buf.indexOf('\n');
      if (i < 0) return;
      cleanup();
      if (i + 1 < buf.length) socket.unshift(Buffer.from(buf.slice(i + 1), 'utf8'));
      resolve(buf.slice(0, i));
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error(`connection ended before a line arrived (got ${JSON.stringify(buf)})`));
    };
    const cleanup = (): void => {
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('error', onEnd);
      socket.pause();
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onEnd);
    socket.resume(); // a 'data' listener alone does not restart a stream that was paused explicitly
  });
}
