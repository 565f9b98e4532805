import { readFile } from 'node:fs/promises';
import { formatApiAddress } from '../api/address.js';
import { ApiClient, type DefinitionSpec } from '../api/client.js';
import { formatIssue } from '../config/errors.js';
import type { Resource } from '../runtime/index.js';
import { CliExit, type CliIo } from './io.js';
import { findDefinition, json, ndjson, TableWriter, tableHeader, tableRow, YamlWriter, type OutputFormat } from './output.js';

/** Options of `kubeprism get`. */
export interface GetOptions {
  readonly api: string;
  readonly namespace?: string;
  readonly output: OutputFormat;
  readonly watch: boolean;
}

async function definitionFor(client: ApiClient, type: string, items: readonly Resource[]): Promise<DefinitionSpec | undefined> {
  const defs = (await client.definitions()).map((d) => d.spec);
  return findDefinition(defs, type) ?? defs.find((d) => d.type === items[0]?.metadata.type);
}

/** `kubeprism get TYPE [ID]`: a table, YAML documents or JSON; with `-w`, keeps printing events until interrupted. */
export async function getCommand(io: CliIo, type: string, id: string | undefined, options: GetOptions): Promise<void> {
  const client = new ApiClient(options.api);
  const scope = options.namespace !== undefined ? { namespace: options.namespace } : {};
  if (options.watch) return watchCommand(io, client, type, id, options);
  const items = id !== undefined ? [await client.get(type, id, scope)] : await client.list(type, scope);
  if (options.output === 'json') {
    io.stdout.write(json(id !== undefined ? items[0] : items));
    return;
  }
  if (options.output === 'yaml') {
    const writer = new YamlWriter(formatApiAddress(client.address));
    for (const res of items) io.stdout.write(writer.render(res));
    return;
  }
  const def = await definitionFor(client, type, items);
  io.stdout.write(new TableWriter().render([tableHeader(def, false), ...items.map((res) => tableRow(def, res))]));
}

async function watchCommand(io: CliIo, client: ApiClient, type: string, id: string | undefined, options: GetOptions): Promise<void> {
  const scope = {
    ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
    ...(id !== undefined ? { id } : {}),
    ...(io.signal ? { signal: io.signal } : {}),
  };
  const stream = client.watch(type, scope);
  if (options.output === 'json') {
    for await (const line of stream) io.stdout.write(ndjson(line));
    return;
  }
  if (options.output === 'yaml') {
    const writer = new YamlWriter(formatApiAddress(client.address));
    for await (const line of stream) if (line.event !== 'bootstrapped') io.stdout.write(writer.render(line.resource, line.event));
    return;
  }
  // The definition is fetched first (an unknown type is then reported by the agent when the watch opens).
  // The current items are printed as one aligned block once the bootstrap is complete; later rows keep
  // (or widen) those column widths.
  const def = findDefinition(
    (await client.definitions()).map((d) => d.spec),
    type,
  );
  const table = new TableWriter();
  let pending: string[][] | undefined = [tableHeader(def, true)];
  for await (const line of stream) {
    if (line.event === 'bootstrapped') {
      io.stdout.write(table.render(pending ?? []));
      pending = undefined;
      continue;
    }
    const row = tableRow(def, line.resource, line.event);
    if (pending) pending.push(row);
    else io.stdout.write(table.render([row]));
  }
}

/** `kubeprism dump`: every resource, as YAML documents or a JSON array. */
export async function dumpCommand(io: CliIo, options: { api: string; output: 'yaml' | 'json' }): Promise<void> {
  const client = new ApiClient(options.api);
  const items = await client.dump();
  if (options.output === 'json') {
    io.stdout.write(json(items));
    return;
  }
  const writer = new YamlWriter(formatApiAddress(client.address));
  for (const res of items) io.stdout.write(writer.render(res));
}

/** `kubeprism graph`: the controller graph as Graphviz DOT or JSON. */
export async function graphCommand(io: CliIo, options: { api: string; format: 'dot' | 'json' }): Promise<void> {
  const client = new ApiClient(options.api);
  io.stdout.write(options.format === 'dot' ? await client.graphDot() : json(await client.graph()));
}

async function readConfigFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new CliExit(1, `cannot read ${file}: ${(err as Error).message}`);
  }
}

/** `kubeprism apply-config FILE`: sends the file to the agent; prints every error and exits 1 when rejected. */
export async function applyConfigCommand(io: CliIo, file: string, options: { api: string }): Promise<void> {
  const text = await readConfigFile(file);
  const answer = await new ApiClient(options.api).applyConfig(text);
  if (!answer.applied) {
    io.stderr.write(`machine config ${file} rejected; the agent keeps the config in force:\n`);
    for (const issue of answer.errors) io.stderr.write(`  ${formatIssue(issue)}\n`);
    throw new CliExit(1);
  }
  io.stdout.write(
    answer.changed
      ? `applied ${file}: machine config version ${answer.version}\n`
      : `${file} is already in force (version ${answer.version}); nothing changed\n`,
  );
}

/** `kubeprism validate FILE`: checks a machine config offline; prints every error and exits 1 when invalid. */
export async function validateCommand(io: CliIo, file: string): Promise<void> {
  const text = await readConfigFile(file);
  // Loaded only here: the schemas are the heaviest part of the CLI's start-up.
  const { InvalidConfigError, parseMachineConfig } = await import('../config/index.js');
  let view;
  try {
    view = parseMachineConfig(text).view;
  } catch (err) {
    if (!(err instanceof InvalidConfigError)) throw err;
    io.stderr.write(`${file} is invalid:\n`);
    for (const line of err.message.split('\n')) io.stderr.write(`  ${line}\n`);
    throw new CliExit(1);
  }
  const kubePrism = view.kubePrism.enabled ? `KubePrism on 127.0.0.1:${view.kubePrism.port}` : 'KubePrism disabled';
  io.stdout.write(`${file} is valid: ${view.machineType}, cluster endpoint ${view.clusterEndpoint.url}, ${kubePrism}\n`);
}
