import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { CredentialProfileError, resolveCredentials, type CredentialProfile } from '../../src/controllers/index.js';
import { v1alpha1Config } from '../harness/configs.js';
import { eventually, fileChanges } from '../harness/eventually.js';
import { startChain, type ChainHarness } from './chain.js';

// --profile: the credential files each distribution really has (sources in credential-profiles.ts).

describe('credential profiles', () => {
  it.each<[CredentialProfile, string, { ca: string; cert: string; key: string } | undefined]>([
    [
      'talos',
      'kubelet',
      {
        ca: '/etc/kubernetes/pki/ca.crt',
        cert: '/var/lib/kubelet/pki/kubelet-client-current.pem',
        key: '/var/lib/kubelet/pki/kubelet-client-current.pem',
      },
    ],
    [
      'talos',
      'kube-scheduler',
      { ca: '/etc/kubernetes/pki/ca.crt', cert: '/etc/kubernetes/pki/kube-scheduler.crt', key: '/etc/kubernetes/pki/kube-scheduler.key' },
    ],
    [
      'kubeadm',
      'kubelet',
      {
        ca: '/etc/kubernetes/pki/ca.crt',
        cert: '/var/lib/kubelet/pki/kubelet-client-current.pem',
        key: '/var/lib/kubelet/pki/kubelet-client-current.pem',
      },
    ],
    ['kubeadm', 'kube-scheduler', undefined],
    ['kubeadm', 'kube-controller-manager', undefined],
    [
      'k3s',
      'kubelet',
      {
        ca: '/var/lib/rancher/k3s/agent/server-ca.crt',
        cert: '/var/lib/rancher/k3s/agent/client-kubelet.crt',
        key: '/var/lib/rancher/k3s/agent/client-kubelet.key',
      },
    ],
    [
      'k3s',
      'kube-controller-manager',
      {
        ca: '/var/lib/rancher/k3s/server/tls/server-ca.crt',
        cert: '/var/lib/rancher/k3s/server/tls/client-controller.crt',
        key: '/var/lib/rancher/k3s/server/tls/client-controller.key',
      },
    ],
    [
      'rke2',
      'kube-scheduler',
      {
        ca: '/var/lib/rancher/rke2/server/tls/server-ca.crt',
        cert: '/var/lib/rancher/rke2/server/tls/client-scheduler.crt',
        key: '/var/lib/rancher/rke2/server/tls/client-scheduler.key',
      },
    ],
  ])('%s: %s', (profile, component, files) => {
    expect(resolveCredentials(profile).credentials(component)).toEqual(files);
  });

  it('takes single paths from the flags, and says what to do where a distribution has no files', () => {
    const k3s = resolveCredentials('k3s', { ca: '/ca.pem', kubeletCert: '/kubelet.crt' });
    expect(k3s.credentials('kubelet')).toEqual({
      ca: '/ca.pem',
      cert: '/kubelet.crt',
      key: '/var/lib/rancher/k3s/agent/client-kubelet.key',
    });
    expect(k3s.credentials('kube-scheduler')?.ca).toBe('/ca.pem');
    const kubeadm = resolveCredentials('kubeadm', { schedulerCert: '/s.crt', schedulerKey: '/s.key' });
    expect(kubeadm.credentials('kube-scheduler')).toEqual({ ca: '/etc/kubernetes/pki/ca.crt', cert: '/s.crt', key: '/s.key' });
    expect(kubeadm.missing('kube-controller-manager')).toBe(
      "the kubeadm profile keeps kube-controller-manager's credentials inside /etc/kubernetes/controller-manager.conf: adopt it " +
        '(--adopt-kubeconfig kube-controller-manager=/etc/kubernetes/controller-manager.conf) or give ' +
        '--controller-manager-client-cert and --controller-manager-client-key',
    );
    expect(() => resolveCredentials('kubeadm', { schedulerCert: '/s.crt' })).toThrow(CredentialProfileError);
    expect(() => resolveCredentials('kubeadm', { schedulerCert: '/s.crt' })).toThrow(
      '--scheduler-client-key is needed with --scheduler-client-cert: the kubeadm profile has no kube-scheduler client certificate files',
    );
  });
});

describe('the file writer with a profile', () => {
  let h: ChainHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("names the profile's files, and writes nothing for a component without any (its kubeconfig is to be adopted)", async () => {
    const kubeadm = resolveCredentials('kubeadm');
    h = await startChain(undefined, { credentials: kubeadm.credentials, missingCredentials: kubeadm.missing });
    await h.config.apply(v1alpha1Config({ machineType: 'controlplane' }), 'test');
    const file = (c: string) => path.join(h!.outputDir, c, 'kubeconfig');
    await eventually(fileChanges(h.outputDir), async () => {
      const kubelet = parse(await readFile(file('kubelet'), 'utf8'));
      expect(kubelet.clusters[0].cluster['certificate-authority']).toBe('/etc/kubernetes/pki/ca.crt');
      expect(kubelet.users[0].user['client-certificate']).toBe('/var/lib/kubelet/pki/kubelet-client-current.pem');
    });
    await h.engine.settled();
    for (const c of ['kube-scheduler', 'kube-controller-manager']) {
      await expect(stat(file(c))).rejects.toMatchObject({ code: 'ENOENT' });
    }
  });
});
