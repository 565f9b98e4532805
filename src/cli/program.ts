import { Argument, Command, CommanderError, Option } from 'commander';
import { DEFAULT_API_ADDRESS } from '../api/address.js';
import { ApiResponseError } from '../api/client.js';
import { buildInfo } from '../build-info.js';
import { CREDENTIAL_PROFILES } from '../controllers/profile-names.js';
import { formatIssue } from '../config/errors.js';
import { KubeprismError } from '../runtime/errors.js';
import { COMPLETION_SHELLS, completionCommand, suggest, type CompletionShell } from './completion.js';
import { parseOutputOption, type OutputSpec } from './get-args.js';
import { CliExit, EXIT, UsageError, type CliIo } from './io.js';
import { GET_OUTPUT_FORMATS } from './output.js';
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
  kubeprism get kps                         KubePrism status (kps = KubePrismStatuses)
  kubeprism get kpu -o wide -w              upstreams with every column, live
  kubeprism get kps k8s-loadbalancer -o jsonpath='{.spec.host}'
  kubeprism get m -l kubeprism.dev/source=file -o name | xargs kubeprism get -o yaml
  kubeprism get mc -o yaml                  the machine config in force (secrets redacted)
  kubeprism validate config.yaml --members members.yaml
  kubeprism apply-config - < new.yaml       offer a new machine config to the running agent
  source <(kubeprism completion bash)       shell completion (also zsh, fish)

Environment:
  KUBEPRISM_API   the agent's debug API address for every command (default ${DEFAULT_API_ADDRESS})

Exit codes:
  0   done; the check passed
  1   invalid input or a failed check: a rejected or unreadable file, an unknown type or id, an error from the agent
  2   usage error: unknown command or flag, missing or extra argument, bad flag value (-o, -l, --api)
  3   the agent is unreachable: nothing listening, no socket file, no answer in time`,
    );

  program
    .command('run')
    .description('run the agent: resource state, controllers, the KubePrism balancer and the debug API, until SIGTERM/SIGINT')
    .requiredOption('--config <file>', 'machine config (Talos v1alpha1 YAML); re-read when it changes, applied again on SIGHUP')
    .addOption(apiOption(io.env))
    .option('--state-dir <dir>', 'where the machine config in force is kept for the next start', DEFAULT_STATE_DIR)
    .option('--output-dir <dir>', 'where kubeconfig files are written (default: <state-dir>/kubeconfigs)')
    .option('--members <file>', 'cluster members file (members: [...]), re-read when it changes')
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
    .addOption(
      new Option('--log-format <format>', 'log lines: json, pretty, or auto (pretty on a terminal, else json)')
        .choices(LOG_FORMATS)
        .default('auto'),
    )
    .option(
      '--metrics-address <addr>',
      "also serve GET /metrics and /healthz (read-only) on host:port or [ipv6]:port, any interface; wins over the config's metricsAddress",
    )
    .option(
      '--adopt-kubeconfig <name=path>',
      'rewrite a kubeconfig the node already has for KubePrism: <output-dir>/NAME/kubeconfig (repeatable; e.g. kubelet=/etc/kubernetes/kubelet.conf)',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .addOption(
      new Option('--profile <name>', 'credential files the generated kubeconfigs name: the layout of talos, kubeadm, k3s or rke2')
        .choices(CREDENTIAL_PROFILES)
        .default('talos'),
    )
    .option('--ca-file <file>', "cluster CA the generated kubeconfigs trust (default: the profile's)")
    .option('--kubelet-client-cert <file>', "kubelet client certificate (default: the profile's)")
    .option('--kubelet-client-key <file>', "kubelet client key (default: the profile's)")
    .option('--scheduler-client-cert <file>', "kube-scheduler client certificate (default: the profile's)")
    .option('--scheduler-client-key <file>', "kube-scheduler client key (default: the profile's)")
    .option('--controller-manager-client-cert <file>', "kube-controller-manager client certificate (default: the profile's)")
    .option('--controller-manager-client-key <file>', "kube-controller-manager client key (default: the profile's)")
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
    .description('show resources of a type (type, plural, singular or alias; any case), like kubectl and talosctl get')
    .argument('<type>', 'resource type (e.g. kps, members, KubePrismStatuses), or TYPE/ID as -o name prints it')
    .argument('[ids...]', 'resource ids (verbatim, may contain "/"); or more TYPE/ID')
    .option('-n, --namespace <ns>', "namespace (default: the type's own)")
    .addOption(
      suggest(
        new Option('-o, --output <format>', 'table, wide (every column), yaml, json, name (TYPE/ID) or jsonpath=TEMPLATE (kubectl syntax)')
          .argParser(parseOutputOption)
          .default({ format: 'table' } satisfies OutputSpec, 'table'),
        { kind: 'words', words: GET_OUTPUT_FORMATS },
      ),
    )
    .option(
      '-l, --selector <selector>',
      'only resources whose labels match: KEY=VALUE, KEY!=VALUE, KEY, !KEY, KEY in (A,B), KEY notin (A,B); "," = and',
    )
    .option('--no-headers', 'print tables without their header row')
    .option('-w, --watch', 'keep printing changes (+ created, - destroyed) until interrupted', false)
    .addOption(apiOption(io.env))
    .action(
      async (
        type: string,
        ids: string[],
        opts: { namespace?: string; output: OutputSpec; selector?: string; headers: boolean; watch: boolean; api: string },
      ) => {
        const { getCommand } = await import('./get-command.js');
        await getCommand(io, [type, ...ids], opts);
      },
    );

  program
    .command('dump')
    .description('print every resource (machine-config secrets redacted)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .addOption(apiOption(io.env))
    .action(async (opts: { output: 'yaml' | 'json'; api: string }) => {
      const { dumpCommand } = await import('./client-commands.js');
      await dumpCommand(io, opts);
    });

  program
    .command('graph')
    .description('print the controller graph: which controller reads and writes which resource type')
    .addOption(new Option('-o, --output <format>', 'Graphviz DOT (default) or JSON').choices(['dot', 'json']))
    .addOption(new Option('--format <format>', 'the same as -o (kept for older scripts)').choices(['dot', 'json']))
    .addOption(apiOption(io.env))
    .action(async (opts: { output?: 'dot' | 'json'; format?: 'dot' | 'json'; api: string }) => {
      if (opts.output !== undefined && opts.format !== undefined && opts.output !== opts.format)
        throw new UsageError(`-o ${opts.output} and --format ${opts.format} disagree; give one`);
      const { graphCommand } = await import('./client-commands.js');
      await graphCommand(io, { api: opts.api, output: opts.output ?? opts.format ?? 'dot' });
    });

  program
    .command('apply-config')
    .description('send a machine config to the running agent; prints the errors and exits 1 when it is rejected')
    .argument('<file>', 'machine config YAML; - reads standard input')
    .addOption(apiOption(io.env))
    .action(async (file: string, opts: { api: string }) => {
      const { applyConfigCommand } = await import('./client-commands.js');
      await applyConfigCommand(io, file, opts);
    });

  program
    .command('validate')
    .description('check a machine config and/or a members file offline; prints every error (path, line, column) and exits 1')
    .argument('[file]', 'machine config YAML; - reads standard input')
    .option('--members <file>', 'also (or only) check a members file (members: [...]); - reads standard input')
    .action(async (file: string | undefined, opts: { members?: string }) => {
      const { validateCommand } = await import('./validate-command.js');
      await validateCommand(io, file, opts);
    });

  program
    .command('completion')
    .description("print a shell completion script: commands, flags, resource types (the agent's when it answers, else built in)")
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(COMPLETION_SHELLS))
    .addOption(apiOption(io.env))
    .addHelpText(
      'after',
      `
Install:
  bash   kubeprism completion bash > /etc/bash_completion.d/kubeprism    (or in ~/.bashrc: source <(kubeprism completion bash))
  zsh    kubeprism completion zsh > "\${fpath[1]}/_kubeprism"            (or in ~/.zshrc: source <(kubeprism completion zsh))
  fish   kubeprism completion fish > ~/.config/fish/completions/kubeprism.fish`,
    )
    .action(async (shell: CompletionShell, opts: { api: string }) => {
      await completionCommand(io, program, shell, opts);
    });

  return program;
}

/** The exit code of an error that reached the top: by its stable code, never its message. */
function exitCodeOf(err: KubeprismError): number {
  if (err.code === 'KP_ERR_UNREACHABLE') return EXIT.unreachable;
  if (err.code === 'KP_ERR_API_ADDRESS') return EXIT.usage;
  return EXIT.failed;
}

/** Runs the CLI on `argv` (without node and script); resolves with the process exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const exitCode = { value: 0 };
  const program = buildProgram(io, exitCode);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode.value;
  } catch (err) {
    // Commander has printed its message (and the help hint); --help and --version are not errors.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof CliExit) {
      if (err.message !== '') io.stderr.write(`kubeprism: ${err.message}\n`);
      if (err instanceof UsageError) io.stderr.write('(run with --help for usage)\n');
      return err.exitCode;
    }
    if (err instanceof KubeprismError) {
      io.stderr.write(`kubeprism: ${err.message}\n`);
      if (err instanceof ApiResponseError) for (const issue of err.issues ?? []) io.stderr.write(`  ${formatIssue(issue)}\n`);
      const code = exitCodeOf(err);
      if (code === EXIT.usage) io.stderr.write('(run with --help for usage)\n');
      return code;
    }
    io.stderr.write(`kubeprism: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.failed;
  }
}
