import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_API_ADDRESS } from '../api/address.js';
import { ApiResponseError } from '../api/client.js';
import { buildInfo } from '../build-info.js';
import { formatIssue } from '../config/errors.js';
import { KubeprismError } from '../runtime/errors.js';
import { applyConfigCommand, dumpCommand, getCommand, graphCommand, validateCommand } from './client-commands.js';
import { CliExit, type CliIo } from './io.js';
import type { OutputFormat } from './output.js';
import type { RunOptions } from './run.js';
import { versionCommand } from './version.js';

/** Where the agent keeps its last good config when `--state-dir` is not given. */
export const DEFAULT_STATE_DIR = '/var/lib/kubeprism';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const LOG_FORMATS: Array<RunOptions['logFormat']> = ['json', 'pretty', 'auto'];

function apiOption(env: CliIo['env']): Option {
  return new Option('--api <addr>', "address of the agent's debug API: host:port (loopback) or unix:/path")
    .env('KUBEPRISM_API')
    .default(env.KUBEPRISM_API ?? DEFAULT_API_ADDRESS);
}

/** Builds the `kubeprism` command tree; `exitCode` receives what `run` resolves with. */
export function buildProgram(io: CliIo, exitCode: { value: number }): Command {
  const program = new Command('kubeprism')
    .description('Node-local Kubernetes API load balancer (KubePrism) on a COSI-like resource runtime')
    .version(buildInfo().version, '-V, --version', 'print the version')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .helpCommand(true)
    .addHelpText(
      'after',
      `
Examples:
  kubeprism run --config /etc/kubeprism/config.yaml --members /etc/kubeprism/members.yaml
  kubeprism get kps                 KubePrism status (kps = KubePrismStatuses)
  kubeprism get kpu -w              upstreams, live
  kubeprism get mc -o yaml          the machine config in force (secrets redacted)
  kubeprism apply-config new.yaml   offer a new machine config to the running agent

Environment:
  KUBEPRISM_API   the agent's debug API address for every command (default ${DEFAULT_API_ADDRESS})`,
    );

  program
    .command('run')
    .description('run the agent: resource state, controllers, the KubePrism balancer and the debug API, until SIGTERM/SIGINT')
    .requiredOption('--config <file>', 'machine config (Talos v1alpha1 YAML); re-read when it changes and on SIGHUP')
    .addOption(apiOption(io.env))
    .option('--state-dir <dir>', 'where the last good machine config is kept', DEFAULT_STATE_DIR)
    .option('--output-dir <dir>', 'where kubeconfig files are written (default: <state-dir>/kubeconfigs)')
    .option('--members <file>', 'cluster members file (members: [...]), re-read when it changes')
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
    .addOption(
      new Option('--log-format <format>', 'log lines: json, pretty, or auto (pretty on a terminal, else json)')
        .choices(LOG_FORMATS)
        .default('auto'),
    )
    .option('--metrics-address <addr>', 'also serve GET /metrics and /healthz (read-only) on host:port or [ipv6]:port, any interface')
    .action(async (opts: RunOptions) => {
      // The agent (controllers, balancer, metrics) is loaded only to run it: client commands start fast.
      const { runCommand } = await import('./run.js');
      exitCode.value = await runCommand(io, opts);
    });

  program
    .command('version')
    .description('print the version, git commit, Node.js version and platform')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action((opts: { output: 'text' | 'json' }) => versionCommand(io, opts));

  program
    .command('get')
    .description('show resources of a type (type, plural, singular or alias; any case), like talosctl get')
    .argument('<type>', 'resource type, e.g. kps, members, KubePrismStatuses')
    .argument('[id]', 'one resource id')
    .option('-n, --namespace <ns>', "namespace (default: the type's own)")
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'yaml', 'json']).default('table'))
    .option('-w, --watch', 'keep printing changes (+ created, - destroyed) until interrupted', false)
    .addOption(apiOption(io.env))
    .action(
      async (type: string, id: string | undefined, opts: { namespace?: string; output: OutputFormat; watch: boolean; api: string }) => {
        await getCommand(io, type, id, opts);
      },
    );

  program
    .command('dump')
    .description('print every resource (machine-config secrets redacted)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .addOption(apiOption(io.env))
    .action(async (opts: { output: 'yaml' | 'json'; api: string }) => {
      await dumpCommand(io, opts);
    });

  program
    .command('graph')
    .description('print the controller graph: which controller reads and writes which resource type')
    .addOption(new Option('--format <format>', 'Graphviz DOT or JSON').choices(['dot', 'json']).default('dot'))
    .addOption(apiOption(io.env))
    .action(async (opts: { format: 'dot' | 'json'; api: string }) => {
      await graphCommand(io, opts);
    });

  program
    .command('apply-config')
    .description('send a machine config to the running agent; prints the errors and exits 1 when it is rejected')
    .argument('<file>', 'machine config YAML')
    .addOption(apiOption(io.env))
    .action(async (file: string, opts: { api: string }) => {
      await applyConfigCommand(io, file, opts);
    });

  program
    .command('validate')
    .description('check a machine config offline; prints the errors and exits 1 when it is invalid')
    .argument('<file>', 'machine config YAML')
    .action(async (file: string) => {
      await validateCommand(io, file);
    });

  return program;
}

/** Runs the CLI on `argv` (without node and script); resolves with the process exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const exitCode = { value: 0 };
  const program = buildProgram(io, exitCode);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode.value;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof CliExit) {
      if (err.message !== '') io.stderr.write(`kubeprism: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof KubeprismError) {
      io.stderr.write(`kubeprism: ${err.message}\n`);
      if (err instanceof ApiResponseError) for (const issue of err.issues ?? []) io.stderr.write(`  ${formatIssue(issue)}\n`);
      return 1;
    }
    io.stderr.write(`kubeprism: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
