import { formatApiAddress } from '../api/address.js';
import type { ApiClient, ResourceOptions } from '../api/client.js';
import type { ResourceWatchLine } from '../api/watch-stream.js';
import { headerRow, resourceRow, tableColumns, watchWidths } from './columns.js';
import { definitionOf, renderJsonPath, type GetContext } from './get-context.js';
import { ndjson, resourceName, TableWriter, YamlWriter } from './output.js';
import { matchesSelector, type LabelSelector } from './selector.js';
import { resumingWatch } from './watch-resume.js';

/**
 * The event stream a watch prints: it resumes from the agent's last bookmark after a dropped stream or
 * an agent restart (see {@link resumingWatch}), saying so on stderr.
 */
export function openWatch(
  client: ApiClient,
  type: string,
  scope: ResourceOptions & { id?: string; signal?: AbortSignal },
  notice: (message: string) => void,
): AsyncIterable<ResourceWatchLine> {
  const { signal, ...rest } = scope;
  return resumingWatch(client, type, rest, { ...(signal ? { signal } : {}), notice });
}

/**
 * Keeps the events of the resources a label selector selects. A resource that stops matching leaves the
 * selection as `destroyed`; one that starts matching enters it as `created` (what a server-side selector
 * would send).
 */
export async function* selectLines(lines: AsyncIterable<ResourceWatchLine>, selector: LabelSelector): AsyncGenerator<ResourceWatchLine> {
  const shown = new Set<string>();
  for await (const line of lines) {
    if (selector.length === 0 || line.event === 'bootstrapped') {
      yield line;
      continue;
    }
    const id = line.resource.metadata.id;
    if (line.event === 'destroyed') {
      if (shown.delete(id)) yield line;
    } else if (matchesSelector(selector, line.resource.metadata.labels)) {
      yield shown.has(id) ? line : { event: 'created', resource: line.resource };
      shown.add(id);
    } else if (shown.delete(id)) {
      yield { event: 'destroyed', resource: line.resource };
    }
  }
}

/**
 * `get -w`: the current items, then every change, until interrupted. Tables mark `+` created, `-`
 * destroyed. Their column widths are settled once, by the header, the first rows (the current items;
 * when the list starts empty, the first event, printed with the header as kubectl does) and a least
 * width per column, and kept for every later row: a longer cell pushes only its own row.
 */
export async function watchCommand(ctx: GetContext, type: string, id: string | undefined): Promise<void> {
  const { io, client, options } = ctx;
  const format = options.output.format;
  // The definition comes first (an unknown type is then reported by the agent when the watch opens).
  const def = format === 'table' || format === 'wide' || format === 'name' ? await definitionOf(ctx, type, []) : undefined;
  const scope = {
    ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
    ...(id !== undefined ? { id } : {}),
    ...(io.signal ? { signal: io.signal } : {}),
  };
  const notice = (message: string): void => void io.stderr.write(`kubeprism: ${message}\n`);
  const lines = selectLines(openWatch(client, type, scope, notice), ctx.selector);
  switch (format) {
    case 'json':
      for await (const line of lines) io.stdout.write(ndjson(line));
      return;
    case 'yaml': {
      const writer = new YamlWriter(formatApiAddress(client.address));
      for await (const line of lines) if (line.event !== 'bootstrapped') io.stdout.write(writer.render(line.resource, line.event));
      return;
    }
    case 'name':
      for await (const line of lines) if (line.event !== 'bootstrapped') io.stdout.write(`${resourceName(def, line.resource)}\n`);
      return;
    case 'jsonpath':
      for await (const line of lines) if (line.event !== 'bootstrapped') io.stdout.write(await renderJsonPath(ctx, line.resource));
      return;
    case 'table':
    case 'wide':
      break;
  }
  const columns = tableColumns(def, {
    wide: format === 'wide',
    ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
  });
  const table = new TableWriter(watchWidths(columns));
  let headerShown = !options.headers;
  const print = (rows: string[][]): void => {
    // The header goes out with the first rows: their widths settle the table, together with the least widths.
    io.stdout.write(table.render(headerShown ? rows : [headerRow(columns, true), ...rows]));
    headerShown = true;
  };
  // The current items print as one block once the bootstrap is complete; later rows one at a time.
  let pending: string[][] | undefined = [];
  for await (const line of lines) {
    if (line.event === 'bootstrapped') {
      if (pending && pending.length > 0) print(pending);
      else {
        const namespace = options.namespace ?? def?.defaultNamespace;
        io.stderr.write(`No resources found${namespace !== undefined ? ` in ${namespace} namespace` : ''}; watching.\n`);
      }
      pending = undefined;
      continue;
    }
    const row = resourceRow(columns, line.resource, ctx.now(), line.event);
    if (pending) pending.push(row);
    else print([row]);
  }
}
