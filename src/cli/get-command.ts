import { formatApiAddress } from '../api/address.js';
import { ApiClient, ApiResponseError, type DefinitionSpec } from '../api/client.js';
import { definitionOf, renderJsonPath, type GetContext, type GetOptions } from './get-context.js';
import type { Resource } from '../runtime/resource.js';
import { headerRow, resourceRow, tableColumns } from './columns.js';
import { parseGetArgs, type GetTarget } from './get-args.js';
import { watchCommand } from './get-watch.js';
import { CliExit, EXIT, UsageError, type CliIo } from './io.js';
import { json, listDocument, resourceName, TableWriter, YamlWriter } from './output.js';
import { matchesSelector, parseSelector } from './selector.js';

interface Fetched {
  readonly target: GetTarget;
  readonly items: Resource[];
}

async function fetchTargets(ctx: GetContext, targets: readonly GetTarget[]): Promise<{ fetched: Fetched[]; missing: string[] }> {
  const scope = ctx.options.namespace !== undefined ? { namespace: ctx.options.namespace } : {};
  const fetched: Fetched[] = [];
  const missing: string[] = [];
  for (const target of targets) {
    if (target.ids.length === 0) {
      const items = (await ctx.client.list(target.type, scope)).filter((res) => matchesSelector(ctx.selector, res.metadata.labels));
      fetched.push({ target, items });
      continue;
    }
    const items: Resource[] = [];
    for (const id of target.ids) {
      try {
        items.push(await ctx.client.get(target.type, id, scope));
      } catch (err) {
        // As kubectl: the ones found are printed, each missing one is reported, and the command fails.
        if (!(err instanceof ApiResponseError) || err.code !== 'KP_ERR_NOT_FOUND') throw err;
        missing.push(err.message);
      }
    }
    fetched.push({ target, items });
  }
  return { fetched, missing };
}

async function printTables(ctx: GetContext, fetched: readonly Fetched[]): Promise<void> {
  const { io, options } = ctx;
  const blocks: string[] = [];
  for (const { target, items } of fetched) {
    if (items.length === 0) continue;
    const def = await definitionOf(ctx, target.type, items);
    const columns = tableColumns(def, { wide: options.output.format === 'wide' });
    const now = ctx.now();
    const rows = items.map((res) => resourceRow(columns, res, now));
    blocks.push(new TableWriter().render(options.headers ? [headerRow(columns, false), ...rows] : rows));
  }
  // Several types print one table each, a blank line apart (kubectl's form).
  io.stdout.write(blocks.join('\n'));
}

async function printFetched(ctx: GetContext, fetched: readonly Fetched[], single: boolean): Promise<void> {
  const { io, client, options } = ctx;
  const items = fetched.flatMap((f) => f.items);
  switch (options.output.format) {
    case 'json':
      io.stdout.write(json(single ? items[0] : listDocument(items)));
      return;
    case 'yaml': {
      const writer = new YamlWriter(formatApiAddress(client.address));
      for (const res of items) io.stdout.write(writer.render(res));
      return;
    }
    case 'name':
      for (const { target, items: found } of fetched) {
        const def = found.length > 0 ? await definitionOf(ctx, target.type, found) : undefined;
        for (const res of found) io.stdout.write(`${resourceName(def, res)}\n`);
      }
      return;
    case 'jsonpath':
      io.stdout.write(await renderJsonPath(ctx, single ? items[0] : listDocument(items)));
      return;
    case 'table':
    case 'wide':
      if (items.length === 0) {
        // kubectl's habit: nothing on standard output (scripts see an empty result), a note for the human.
        const def = await definitionOf(ctx, fetched[0]?.target.type ?? '', []);
        const namespace = options.namespace ?? def?.defaultNamespace;
        io.stderr.write(namespace !== undefined ? `No resources found in ${namespace} namespace.\n` : 'No resources found.\n');
        return;
      }
      await printTables(ctx, fetched);
  }
}

/**
 * `kubeprism get TYPE [ID...] | TYPE/ID...`: a table (narrow or wide), a YAML stream, JSON (the object, or
 * kubectl's List), names, or a JSONPath template; `-l` selects by labels; `-w` keeps printing changes.
 */
export async function getCommand(io: CliIo, args: readonly string[], options: GetOptions): Promise<void> {
  const targets = parseGetArgs(args);
  const selector = parseSelector(options.selector ?? '');
  const named = targets.some((t) => t.ids.length > 0);
  if (named && selector.length > 0) throw new UsageError('-l selects from a list: give a type alone, without ids');
  const client = new ApiClient(options.api);
  let defs: Promise<readonly DefinitionSpec[]> | undefined;
  const ctx: GetContext = {
    io,
    client,
    options,
    selector,
    definitions: () => (defs ??= client.definitions().then((list) => list.map((d) => d.spec))),
    now: io.now ?? Date.now,
  };
  if (options.watch) {
    const [target, ...others] = targets;
    if (!target || others.length > 0 || target.ids.length > 1) throw new UsageError('-w watches one type (and at most one id)');
    return watchCommand(ctx, target.type, target.ids[0]);
  }
  const single = targets.length === 1 && targets[0]?.ids.length === 1;
  const { fetched, missing } = await fetchTargets(ctx, targets);
  const found = fetched.some((f) => f.items.length > 0);
  // Nothing of what was named exists: only the errors, no empty list.
  if (found || missing.length === 0) await printFetched(ctx, fetched, single && missing.length === 0);
  if (missing.length > 0) throw new CliExit(EXIT.failed, missing.join('\nkubeprism: '));
}
