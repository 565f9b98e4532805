import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { credentialsFromFlags, parseAdoptFlags } from '../../src/cli/run-flags.js';
import { CREDENTIAL_PROFILES } from '../../src/controllers/credential-profiles.js';
import { UsageError } from '../../src/cli/io.js';

// The flags of `kubeprism run` for wiring the node: --adopt-kubeconfig, --profile and the path overrides.
// Bad ones are usage errors (exit 2) found before anything starts.

async function run(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const code = await runCli(['run', '--config', '/nonexistent/config.yaml', ...args], {
    stdout: { write: () => true },
    stderr: { write: (s: string) => ((stderr += s), true) },
    env: {},
  });
  return { code, stderr };
}

describe('--adopt-kubeconfig NAME=PATH', () => {
  it('takes the flag repeatedly, paths made absolute', () => {
    expect(parseAdoptFlags(['kubelet=/etc/kubernetes/kubelet.conf', 'kube-proxy=rel/kp.conf'])).toEqual([
      { name: 'kubelet', path: '/etc/kubernetes/kubelet.conf' },
      { name: 'kube-proxy', path: path.resolve('rel/kp.conf') },
    ]);
    // A path may hold "=": only the first one splits.
    expect(parseAdoptFlags(['x=/odd=name'])).toEqual([{ name: 'x', path: '/odd=name' }]);
  });

  it.each([
    [['kubelet'], '--adopt-kubeconfig kubelet: want NAME=PATH, e.g. kubelet=/etc/kubernetes/kubelet.conf'],
    [['=/a'], '--adopt-kubeconfig =/a: want NAME=PATH, e.g. kubelet=/etc/kubernetes/kubelet.conf'],
    [['kubelet='], '--adopt-kubeconfig kubelet=: want NAME=PATH, e.g. kubelet=/etc/kubernetes/kubelet.conf'],
    [
      ['../x=/a'],
      '--adopt-kubeconfig ../x=/a: the name must be letters, digits, ".", "_" or "-", starting with a letter or digit (it names a directory)',
    ],
    [['kubelet=/a', 'kubelet=/b'], '--adopt-kubeconfig kubelet is given twice (kubelet=/a and kubelet=/b); adopt each name once'],
  ])('refuses %j as a usage error naming the flag', async (values, message) => {
    expect(() => parseAdoptFlags(values)).toThrow(new UsageError(message));
    const result = await run(values.flatMap((v) => ['--adopt-kubeconfig', v]));
    expect(result).toEqual({ code: 2, stderr: `kubeprism: ${message}\n(run with --help for usage)\n` });
  });
});

describe('--profile and the credential path flags', () => {
  it('lists the profiles commander offers', async () => {
    const result = await run(['--profile', 'openshift']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`Allowed choices are ${CREDENTIAL_PROFILES.join(', ')}.`);
  });

  it('replaces single paths of the profile, made absolute', () => {
    const resolved = credentialsFromFlags({ profile: 'rke2', caFile: 'ca.pem', kubeletClientKey: '/k.key' });
    expect(resolved.credentials('kubelet')).toEqual({
      ca: path.resolve('ca.pem'),
      cert: '/var/lib/rancher/rke2/agent/client-kubelet.crt',
      key: '/k.key',
    });
  });

  it('refuses a certificate without its key where the profile has neither', async () => {
    const result = await run(['--profile', 'kubeadm', '--controller-manager-client-cert', '/cm.crt']);
    expect(result).toEqual({
      code: 2,
      stderr:
        'kubeprism: --controller-manager-client-key is needed with --controller-manager-client-cert: the kubeadm profile has no kube-controller-manager client certificate files\n(run with --help for usage)\n',
    });
  });
});
