import { formatApiAddress } from '../api/address.js';
import { ApiClient } from '../api/client.js';
import { formatIssue } from '../config/errors.js';
import { CliExit, EXIT, inputName, readInput, type CliIo } from './io.js';
import { json, YamlWriter } from './output.js';

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
export async function graphCommand(io: CliIo, options: { api: string; output: 'dot' | 'json' }): Promise<void> {
  const client = new ApiClient(options.api);
  io.stdout.write(options.output === 'dot' ? await client.graphDot() : json(await client.graph()));
}

/** `kubeprism apply-config FILE|-`: sends the config to the agent; prints every error and exits 1 when rejected. */
export async function applyConfigCommand(io: CliIo, file: string, options: { api: string }): Promise<void> {
  const text = await readInput(io, file);
  const name = inputName(file);
  const answer = await new ApiClient(options.api).applyConfig(text);
  if (!answer.applied) {
    io.stderr.write(`machine config ${name} rejected; the agent keeps the config in force:\n`);
    for (const issue of answer.errors) io.stderr.write(`  ${formatIssue(issue)}\n`);
    throw new CliExit(EXIT.failed);
  }
  io.stdout.write(
    answer.changed
      ? `applied ${name}: machine config version ${answer.version}\n`
      : `${name} is already in force (version ${answer.version}); nothing changed\n`,
  );
}
