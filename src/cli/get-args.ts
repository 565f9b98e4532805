import { InvalidArgumentError } from 'commander';
import { UsageError } from './io.js';
import { parseTemplate, type TemplateNode } from './jsonpath.js';
import { GET_OUTPUT_FORMATS, type OutputFormat } from './output.js';

/** What `get` was asked for: a type and the ids wanted from it (none: the whole list). */
export interface GetTarget {
  readonly type: string;
  readonly ids: readonly string[];
}

/**
 * Reads `get`'s arguments the way kubectl does: `TYPE [ID...]` (ids verbatim, so they may hold `/`), or
 * `TYPE/ID...` split at the first `/` only (what `-o name` prints), grouped by type in the order given.
 * Mixing the two forms is a usage error.
 */
export function parseGetArgs(args: readonly string[]): GetTarget[] {
  const [first, ...rest] = args;
  if (first === undefined) throw new UsageError('get needs a resource type, e.g. "kubeprism get kps" (or TYPE/ID)');
  if (!first.includes('/')) return [{ type: first, ids: rest }];
  const targets = new Map<string, string[]>();
  for (const arg of args) {
    const slash = arg.indexOf('/');
    if (slash < 0)
      throw new UsageError(`"${arg}": once one argument is TYPE/ID, every one must be (got "${first}" first); or use TYPE ID...`);
    const type = arg.slice(0, slash);
    const id = arg.slice(slash + 1);
    if (type === '' || id === '') throw new UsageError(`"${arg}": want TYPE/ID, both non-empty`);
    const ids = targets.get(type) ?? [];
    ids.push(id);
    targets.set(type, ids);
  }
  return [...targets].map(([type, ids]) => ({ type, ids }));
}

/** An `-o` value: the format, and the parsed template of `jsonpath=...`. */
export interface OutputSpec {
  readonly format: OutputFormat;
  readonly template?: { readonly text: string; readonly nodes: readonly TemplateNode[] };
}

/** Parses `-o` for commander (a bad value is commander's usage error, exit 2). */
export function parseOutputOption(value: string): OutputSpec {
  const eq = value.indexOf('=');
  const name = eq < 0 ? value : value.slice(0, eq);
  if (name === 'jsonpath') {
    if (eq < 0 || value.slice(eq + 1) === '')
      throw new InvalidArgumentError("jsonpath needs a template, e.g. -o jsonpath={.spec.host} or -o jsonpath='{.items[*].metadata.id}'");
    const text = value.slice(eq + 1);
    try {
      return { format: 'jsonpath', template: { text, nodes: parseTemplate(text) } };
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  }
  if (eq < 0 && (GET_OUTPUT_FORMATS as readonly string[]).includes(name)) return { format: name as OutputFormat };
  throw new InvalidArgumentError(`Allowed choices are ${GET_OUTPUT_FORMATS.map((f) => (f.endsWith('=') ? `${f}EXPR` : f)).join(', ')}.`);
}
