import { generate } from 'selfsigned';

/** A PEM key and self-signed certificate for test TLS servers. */
export interface TestCertificate {
  key: string;
  cert: string;
}

let cached: Promise<TestCertificate> | undefined;

/**
 * A throwaway self-signed EC P-256 certificate for `localhost`, `kubernetes`, 127.0.0.1 and ::1, made
 * once per test process (generation costs tens of milliseconds) and shared by every fake server.
 * Clients in tests do not verify it, exactly like the balancer's health checks.
 */
export function testCertificate(): Promise<TestCertificate> {
  cached ??= generate([{ name: 'commonName', value: 'kubeprism-test' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 7 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 2, value: 'kubernetes' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  }).then((pems) => ({ key: pems.private, cert: pems.cert }));
  return cached;
}

/** A CA and a server certificate it signed, naming only the given IP addresses (no names, no loopback). */
export interface TestCertificateAuthority {
  /** The CA certificate (PEM): what a kubeconfig's certificate-authority-data holds. */
  ca: string;
  /** The server's key and certificate. */
  server: TestCertificate;
}

/**
 * A throwaway CA and a server certificate for exactly `ips`: a stand-in for an API server whose
 * certificate does not name 127.0.0.1, so a client going through a local balancer must verify against
 * another name (`tls-server-name`).
 */
export async function certificateForIps(ips: readonly string[]): Promise<TestCertificateAuthority> {
  const week = new Date(Date.now() + 7 * 24 * 3600 * 1000);
  const ca = await generate([{ name: 'commonName', value: 'kubeprism-test-ca' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: week,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: 'kube-apiserver' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: week,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: ips.map((ip) => ({ type: 7, ip })) },
    ],
  });
  return { ca: ca.cert, server: { key: server.private, cert: server.cert } };
}
