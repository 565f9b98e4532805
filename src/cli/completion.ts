import type { Argument, Command, Option } from 'commander';
import { ApiClient } from '../api/client.js';
import { namesOf } from '../runtime/definition.js';
import { bashScript, fishScript, zshScript } from './completion-scripts.js';
import type { CliIo } from './io.js';

/** The shells `kubeprism completion` writes a script for. */
export const COMPLETION_SHELLS = ['bash', 'zsh', 'fish'] as const;

/** One of {@link COMPLETION_SHELLS}. */
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

/** What a word may be completed with: fixed words, resource type names, files, directories, or anything. */
export type Completion =
  { readonly kind: 'words'; readonly words: readonly string[] } | { readonly kind: 'types' | 'files' | 'dirs' | 'free' };

/** An option as the scripts see it: its flags, whether a value follows, and what completes that value. */
export interface OptionModel {
  readonly flags: readonly string[];
  readonly description: string;
  readonly value?: Completion;
}

/** A command as the scripts see it, read from the commander tree (so commands others add appear by themselves). */
export interface CommandModel {
  readonly name: string;
  readonly description: string;
  readonly options: readonly OptionModel[];
  /** What completes each positional argument, in order; the last repeats when it is variadic. */
  readonly args: readonly Completion[];
  readonly variadic: boolean;
}

/** The whole command line: top-level options and the commands. */
export interface CliModel {
  readonly name: string;
  readonly options: readonly OptionModel[];
  readonly commands: readonly CommandModel[];
  readonly types: readonly string[];
}

// Value completions set by the program where commander's choices cannot say it (e.g. `-o jsonpath=EXPR`).
const suggested = new WeakMap<Option | Argument, Completion>();

/** Tells completion what an option's value or an argument may be. */
export function suggest<T extends Option | Argument>(target: T, completion: Completion): T {
  suggested.set(target, completion);
  return target;
}

function placeholderCompletion(placeholder: string): Completion {
  // The value's name in the flags (`--config <file>`, `--state-dir <dir>`) says what it is.
  if (/file|path/i.test(placeholder)) return { kind: 'files' };
  if (/dir/i.test(placeholder)) return { kind: 'dirs' };
  return { kind: 'free' };
}

function optionModel(option: Option): OptionModel {
  const flags = [option.short, option.long].filter((f): f is string => f !== undefined);
  const takesValue = option.required || option.optional;
  const placeholder = /[<[]([^>\]]+)[>\]]/.exec(option.flags)?.[1] ?? '';
  const value =
    suggested.get(option) ??
    (option.argChoices ? { kind: 'words' as const, words: option.argChoices } : placeholderCompletion(placeholder));
  return { flags, description: option.description, ...(takesValue ? { value } : {}) };
}

function argumentCompletion(arg: Argument): Completion {
  const own = suggested.get(arg);
  if (own) return own;
  if (arg.argChoices) return { kind: 'words', words: arg.argChoices };
  if (arg.name() === 'type') return { kind: 'types' };
  return placeholderCompletion(arg.name());
}

/** Reads the commands, options and arguments from the commander tree. */
export function cliModel(program: Command, types: readonly string[]): CliModel {
  const help = program.createHelp();
  const commands = help.visibleCommands(program).map((cmd): CommandModel => {
    const args = cmd.registeredArguments;
    return {
      name: cmd.name(),
      description: cmd.summary() || cmd.description(),
      options: help.visibleOptions(cmd).map(optionModel),
      args: args.map(argumentCompletion),
      variadic: args.at(-1)?.variadic ?? false,
    };
  });
  // The help command completes command names.
  const withHelp = commands.map((c) =>
    c.name === 'help' ? { ...c, args: [{ kind: 'words' as const, words: commands.map((x) => x.name) }] } : c,
  );
  return { name: program.name(), options: help.visibleOptions(program).map(optionModel), commands: withHelp, types };
}

/** Quick enough for a shell start-up; past it, the built-in list is used. */
const AGENT_TIMEOUT_MS = 500;

/** Every name of every resource type: the running agent's (when it answers quickly), else the built-in list. */
export async function resourceTypeNames(api: string): Promise<string[]> {
  let defs: ReadonlyArray<{ type: string; aliases: readonly string[] }>;
  try {
    defs = (await new ApiClient(api, { timeoutMs: AGENT_TIMEOUT_MS }).definitions()).map((d) => d.spec);
  } catch {
    const { KUBEPRISM_TYPES } = await import('../resources/index.js');
    const { ControllerStatusType, NamespaceType, ResourceDefinitionType } = await import('../runtime/definition.js');
    defs = [...KUBEPRISM_TYPES, ResourceDefinitionType, NamespaceType, ControllerStatusType];
  }
  // Plural, singular and abbreviations; the full `Names.group.suffix` forms would only crowd the list.
  return [...new Set(defs.flatMap((def) => namesOf(def)).filter((name) => !name.includes('.')))].sort();
}

/** `kubeprism completion bash|zsh|fish`: prints the script for that shell. */
export async function completionCommand(io: CliIo, program: Command, shell: CompletionShell, options: { api: string }): Promise<void> {
  const model = cliModel(program, await resourceTypeNames(options.api));
  const render = { bash: bashScript, zsh: zshScript, fish: fishScript }[shell];
  io.stdout.write(render(model));
}
