import { CliExit, EXIT, inputName, readInput, UsageError, type CliIo } from './io.js';

/** Options of `kubeprism validate`: a machine config, a members file, or both (`-` is standard input). */
export interface ValidateOptions {
  readonly members?: string;
}

function reportInvalid(io: CliIo, name: string, message: string): void {
  io.stderr.write(`${name} is invalid:\n`);
  for (const line of message.split('\n')) io.stderr.write(`  ${line}\n`);
}

/**
 * `kubeprism validate [FILE|-] [--members FILE|-]`: checks a machine config and/or a members file offline,
 * printing every problem with its path, line and column; exit 1 when either is invalid.
 */
export async function validateCommand(io: CliIo, file: string | undefined, options: ValidateOptions): Promise<void> {
  if (file === undefined && options.members === undefined)
    throw new UsageError('validate needs a machine config (FILE, or - for standard input), --members FILE, or both');
  if (file === '-' && options.members === '-') throw new UsageError('only one of FILE and --members can be - (standard input)');
  // Loaded only here: the schemas are the heaviest part of the CLI's start-up.
  const { InvalidConfigError, parseMachineConfig, parseMembersFile } = await import('../config/index.js');
  let failed = false;
  if (file !== undefined) {
    const name = inputName(file);
    const text = await readInput(io, file);
    try {
      const view = parseMachineConfig(text).view;
      const kubePrism = view.kubePrism.enabled ? `KubePrism on 127.0.0.1:${view.kubePrism.port}` : 'KubePrism disabled';
      io.stdout.write(`${name} is valid: ${view.machineType}, cluster endpoint ${view.clusterEndpoint.url}, ${kubePrism}\n`);
    } catch (err) {
      if (!(err instanceof InvalidConfigError)) throw err;
      reportInvalid(io, name, err.message);
      failed = true;
    }
  }
  if (options.members !== undefined) {
    const name = inputName(options.members);
    const text = await readInput(io, options.members);
    try {
      const members = parseMembersFile(text);
      const controlPlanes = members.filter((m) => m.spec.controlPlane !== undefined).length;
      io.stdout.write(`${name} is valid: ${members.length} member(s), ${controlPlanes} with a control plane\n`);
    } catch (err) {
      if (!(err instanceof InvalidConfigError)) throw err;
      reportInvalid(io, name, err.message);
      failed = true;
    }
  }
  if (failed) throw new CliExit(EXIT.failed);
}
