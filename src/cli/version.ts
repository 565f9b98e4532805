import { buildInfo } from '../build-info.js';
import type { CliIo } from './io.js';

/** `kubeprism version [-o json]`: version, git commit (null when unknown), Node.js version, platform. */
export function versionCommand(io: CliIo, opts: { output: 'text' | 'json' }): void {
  const info = buildInfo();
  if (opts.output === 'json') {
    io.stdout.write(
      `${JSON.stringify({ version: info.version, commit: info.commit, node: info.node, platform: info.platform }, null, 2)}\n`,
    );
    return;
  }
  io.stdout.write(`version:  ${info.version}\ncommit:   ${info.commit ?? 'unknown'}\nnode:     ${info.node}\nplatform: ${info.platform}\n`);
}
