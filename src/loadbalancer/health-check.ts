import { request } from 'node:https';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { formatAddress } from '../util/address.js';
import { describeError, HealthCheckError } from './errors.js';

/** How an upstream is judged: TCP connect, TLS handshake, or HTTPS `GET /readyz`. */
export type HealthCheckMode = 'tcp' | 'tls' | 'readyz';

/** Where a check goes. `tlsServerName` is the SNI (and Host header) in `tls` and `readyz` modes. */
export interface HealthCheckTarget {
  host: string;
  port: number;
  tlsServerName?: string;
}

/** Run one check of `mode`; resolves when healthy, rejects with a {@link HealthCheckError} or the abort reason. */
export function runHealthCheck(mode: HealthCheckMode, target: HealthCheckTarget, signal: AbortSignal): Promise<void> {
  switch (mode) {
    case 'tcp':
      return checkTcp(target, signal);
    case 'tls':
      return checkTls(target, signal);
    case 'readyz':
      return checkReadyz(target, signal);
  }
}

/** Healthy when a TCP connection is established. */
export function checkTcp(target: HealthCheckTarget, signal: AbortSignal): Promise<void> {
  return onceReady(
    signal,
    () => netConnect({ host: target.host, port: target.port }),
    'connect',
    `connect ${formatAddress(target.host, target.port)}`,
  );
}

/** Healthy when a TLS handshake completes (the certificate is not verified: this only proves a live TLS server). */
export function checkTls(target: HealthCheckTarget, signal: AbortSignal): Promise<void> {
  return onceReady(
    signal,
    () => tlsConnect({ host: target.host, port: target.port, rejectUnauthorized: false, ...serverName(target) }),
    'secureConnect',
    `tls ${formatAddress(target.host, target.port)}`,
  );
}

/**
 * HTTPS `GET /readyz` without verifying the certificate: 2xx healthy; 401/403 mean the server is alive
 * but will not tell an anonymous client (counted healthy); 5xx or anything else unhealthy.
 */
export function checkReadyz(target: HealthCheckTarget, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const req = request({
      host: target.host,
      port: target.port,
      path: '/readyz',
      method: 'GET',
      agent: false, // a fresh connection each time: latency covers connect + handshake + request
      rejectUnauthorized: false,
      ...serverName(target),
      headers: {
        host: formatAddress(target.tlsServerName ?? target.host, target.port),
        'user-agent': 'kubeprism-healthcheck',
        accept: '*/*',
        connection: 'close',
      },
    });
    const done = (err?: Error): void => {
      signal.removeEventListener('abort', onAbort);
      req.destroy(); // closes the socket whatever the state: nothing leaks
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = (): void => done(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    req.once('response', (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      if ((status >= 200 && status < 300) || status === 401 || status === 403) done();
      else done(new HealthCheckError(`/readyz answered ${status}`));
    });
    req.once('error', (err) => {
      if (signal.aborted) return done(abortReason(signal));
      done(new HealthCheckError(`readyz ${formatAddress(target.host, target.port)}: ${describeError(err)}`, { cause: err }));
    });
    req.end();
  });
}

/** Why a check was aborted, as an Error (the list aborts with a TimeoutError; an embedder might not). */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(String(reason));
}

/** SNI only for names: RFC 6066 forbids IP literals, and Node warns about them. */
function serverName(target: HealthCheckTarget): { servername?: string } {
  if (target.tlsServerName) return { servername: target.tlsServerName };
  return isIP(target.host) === 0 ? { servername: target.host } : {};
}

function onceReady(signal: AbortSignal, open: () => Socket, readyEvent: string, label: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const socket = open();
    const done = (err?: Error): void => {
      signal.removeEventListener('abort', onAbort);
      socket.removeListener(readyEvent, onReady);
      socket.on('error', ignore); // a late error after destroy must not crash the process
      socket.destroy();
      if (err === undefined) resolve();
      else reject(err);
    };
    const onReady = (): void => done();
    const onAbort = (): void => done(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once(readyEvent, onReady);
    socket.once('error', (err: Error) => done(new HealthCheckError(`${label}: ${describeError(err)}`, { cause: err })));
  });
}

function ignore(): void {}
