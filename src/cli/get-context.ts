import type { ApiClient, DefinitionSpec } from '../api/client.js';
import type { Resource } from '../runtime/resource.js';
import type { OutputSpec } from './get-args.js';
import type { CliIo } from './io.js';
import { renderTemplate } from './jsonpath.js';
import { findDefinition } from './output.js';
import type { LabelSelector } from './selector.js';

/** Options of `kubeprism get`. */
export interface GetOptions {
  readonly api: string;
  readonly namespace?: string;
  readonly output: OutputSpec;
  readonly selector?: string;
  readonly headers: boolean;
  readonly watch: boolean;
}

/** What the printers of `get` and `get -w` share: where to write, the agent, and how to print. */
export interface GetContext {
  readonly io: CliIo;
  readonly client: ApiClient;
  readonly options: GetOptions;
  readonly selector: LabelSelector;
  /** The definitions, fetched once when a printer first needs them. */
  readonly definitions: () => Promise<readonly DefinitionSpec[]>;
  readonly now: () => number;
}

/** The definition `type` names (by any of its names), else that of the resources at hand. */
export async function definitionOf(ctx: GetContext, type: string, items: readonly Resource[]): Promise<DefinitionSpec | undefined> {
  const defs = await ctx.definitions();
  return findDefinition(defs, type) ?? defs.find((d) => d.type === items[0]?.metadata.type);
}

/** One resource, or several, as `-o jsonpath` sees them: the object itself or kubectl's List. */
export async function renderJsonPath(ctx: GetContext, data: unknown): Promise<string> {
  const template = ctx.options.output.template;
  if (!template) return '';
  return renderTemplate(template.text, template.nodes, data);
}
