import { readFile, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { isMap, isSeq, parseAllDocuments, type Document } from 'yaml';
import { ADOPTED_KUBECONFIG_CODES } from '../resources/index.js';
import { KubeprismError } from '../runtime/index.js';
import { isPlainObject, type PlainObject } from '../util/plain-object.js';

// Reading and rewriting a kubeconfig the node already has (kubeadm's kubelet.conf, k3s's
// kubelet.kubeconfig, …). The file is edited as a YAML Document, in place: comments, key order, quoting
// and everything kubeprism does not touch (embedded certificates and keys, tokens, exec plugins, other
// clusters and contexts, unknown fields) come out as they went in. Nothing here logs or returns content.

/** Code of an adopted kubeconfig that cannot be used; see ADOPTED_KUBECONFIG_CODES. */
export type AdoptedKubeconfigCode = (typeof ADOPTED_KUBECONFIG_CODES)[keyof typeof ADOPTED_KUBECONFIG_CODES];

/** An adopted kubeconfig cannot be used; the message names the file and what is wrong, never its content. */
export class AdoptedKubeconfigError extends KubeprismError {
  declare readonly code: AdoptedKubeconfigCode;

  constructor(code: AdoptedKubeconfigCode, message: string) {
    super(code, message);
  }
}

/** Credentials are small; a kubeconfig larger than this is not one. */
const MAX_BYTES = 1024 * 1024;

/** A usable adopted kubeconfig: the parsed document and what kubeprism reads from it. */
export interface AdoptedKubeconfig {
  readonly file: string;
  /** The whole file, parsed (holds secrets: never log it, never put it in a resource). */
  readonly document: Document;
  /** The current context and the cluster it uses. */
  readonly context: string;
  readonly cluster: string;
  /** Index of that cluster in `clusters`. */
  readonly clusterIndex: number;
  /** Its server, as written, and the server's host (IPv6 without brackets). */
  readonly server: string;
  readonly host: string;
  /** Its own `tls-server-name`, when it sets one. */
  readonly tlsServerName?: string;
  /** The file's permission bits and owner, for the copy. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** The file's text, to tell a changed file from the same one again (kept in memory only). */
  readonly text: string;
}

/** Reads and checks an adopted kubeconfig; throws AdoptedKubeconfigError saying why it cannot be used. */
export async function readAdoptedKubeconfig(file: string): Promise<AdoptedKubeconfig> {
  const { text, info } = await readSource(file);
  const documents = parseAllDocuments(text);
  const fail = (code: AdoptedKubeconfigCode, what: string): never => {
    throw new AdoptedKubeconfigError(code, `kubeconfig ${file}: ${what}`);
  };
  if (documents.length === 0) return fail(ADOPTED_KUBECONFIG_CODES.invalid, 'empty file');
  if (documents.length !== 1) return fail(ADOPTED_KUBECONFIG_CODES.invalid, `holds ${documents.length} YAML documents, not one`);
  const document = documents[0] as Document;
  const error = document.errors[0];
  // The parser's first line says what and where; the lines after it quote the file, which may hold secrets.
  if (error) return fail(ADOPTED_KUBECONFIG_CODES.invalid, `not YAML: ${(error.message.split('\n')[0] ?? '').replace(/:$/u, '')}`);
  let data: unknown;
  try {
    data = document.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return fail(ADOPTED_KUBECONFIG_CODES.invalid, `not usable YAML: ${(err as Error).message.split('\n')[0] ?? ''}`);
  }
  if (!isPlainObject(data))
    return fail(ADOPTED_KUBECONFIG_CODES.invalid, 'not a kubeconfig: expected a mapping with clusters, users and contexts');

  const current = data['current-context'];
  if (typeof current !== 'string' || current === '') return fail(ADOPTED_KUBECONFIG_CODES.noContext, 'no current-context');
  const context = entry(data, 'contexts', current, fail);
  if (context === undefined) return fail(ADOPTED_KUBECONFIG_CODES.noContext, `current-context "${current}" names no context in the file`);
  const clusterName = isPlainObject(context.value.context) ? context.value.context.cluster : undefined;
  if (typeof clusterName !== 'string' || clusterName === '') {
    return fail(ADOPTED_KUBECONFIG_CODES.noCluster, `context "${current}" names no cluster`);
  }
  const cluster = entry(data, 'clusters', clusterName, fail);
  if (cluster === undefined) {
    return fail(ADOPTED_KUBECONFIG_CODES.noCluster, `context "${current}" uses cluster "${clusterName}", which the file does not define`);
  }
  const fields = cluster.value.cluster;
  if (!isPlainObject(fields)) return fail(ADOPTED_KUBECONFIG_CODES.server, `cluster "${clusterName}" has no server`);
  const server = fields.server;
  if (typeof server !== 'string' || server === '') return fail(ADOPTED_KUBECONFIG_CODES.server, `cluster "${clusterName}" has no server`);
  const host = serverHost(server, (what) => fail(ADOPTED_KUBECONFIG_CODES.server, `server of cluster "${clusterName}" ${what}`));
  const own = fields['tls-server-name'];
  return {
    file,
    document,
    context: current,
    cluster: clusterName,
    clusterIndex: cluster.index,
    server,
    host,
    ...(typeof own === 'string' && own !== '' ? { tlsServerName: own } : {}),
    mode: info.mode & 0o666,
    uid: info.uid,
    gid: info.gid,
    text,
  };
}

async function readSource(file: string): Promise<{ text: string; info: Stats }> {
  try {
    const info = await stat(file);
    if (info.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (info.size > MAX_BYTES)
      throw new AdoptedKubeconfigError(ADOPTED_KUBECONFIG_CODES.unreadable, `kubeconfig ${file}: larger than 1 MiB`);
    return { text: await readFile(file, 'utf8'), info };
  } catch (err) {
    if (err instanceof AdoptedKubeconfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new AdoptedKubeconfigError(ADOPTED_KUBECONFIG_CODES.missing, `kubeconfig ${file}: no such file`);
    throw new AdoptedKubeconfigError(
      ADOPTED_KUBECONFIG_CODES.unreadable,
      `kubeconfig ${file}: cannot read it (${code ?? (err as Error).message})`,
    );
  }
}

/** The entry called `name` in the list `key` (`contexts`, `clusters`), with its index; two of them are an error. */
function entry(
  data: PlainObject,
  key: 'contexts' | 'clusters',
  name: string,
  fail: (code: AdoptedKubeconfigCode, what: string) => never,
): { value: PlainObject; index: number } | undefined {
  const list = data[key];
  if (list === undefined || list === null) return undefined;
  if (!Array.isArray(list)) return fail(ADOPTED_KUBECONFIG_CODES.invalid, `${key} is not a list`);
  const matches = list.flatMap((item: unknown, index) => (isPlainObject(item) && item.name === name ? [{ value: item, index }] : []));
  // client-go would silently take one of them; which one the component used is anybody's guess.
  if (matches.length > 1) return fail(ADOPTED_KUBECONFIG_CODES.invalid, `${key} has ${matches.length} entries named "${name}"`);
  return matches[0];
}

/** The host of an `https://host[:port]` server (IPv6 unbracketed); `fail` says what else it is. */
function serverHost(server: string, fail: (what: string) => never): string {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    return fail('is not a URL');
  }
  if (url.protocol !== 'https:') return fail(`is not https (${url.protocol.replace(/:$/u, '')})`);
  if (url.username !== '' || url.password !== '') return fail('carries credentials in the URL');
  // KubePrism forwards TCP to API servers: a path prefix (an HTTP proxy in front of them) cannot be kept.
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    return fail(`has a path, query or fragment (${url.pathname}), which kubeprism cannot keep: it forwards TCP`);
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return host === '' ? fail('has no host') : host;
}

/**
 * The adopted kubeconfig with the server of its current context's cluster replaced by `server` and,
 * when the file sets none, `tls-server-name: <tlsServerName>` added (default: the original server's
 * host, the name its certificate was verified against). Relative file paths are made absolute against
 * the source's directory, as client-go resolves them, so the copy elsewhere means the same.
 */
export function renderAdoptedKubeconfig(
  source: AdoptedKubeconfig,
  server: string,
  tlsServerName = source.tlsServerName ?? source.host,
): string {
  const document = source.document.clone();
  const at = ['clusters', source.clusterIndex, 'cluster'];
  document.setIn([...at, 'server'], server);
  if (source.tlsServerName === undefined) document.setIn([...at, 'tls-server-name'], tlsServerName);
  absolutize(document, path.dirname(source.file));
  return document.toString({ lineWidth: 0 });
}

/** Every file reference client-go resolves against the kubeconfig's directory, made absolute. */
function absolutize(document: Document, base: string): void {
  const each = (list: string, inner: string, keys: readonly string[]): void => {
    const seq = document.get(list, true);
    if (!isSeq(seq)) return;
    seq.items.forEach((_item, index) => {
      const fields = document.getIn([list, index, inner], true);
      if (!isMap(fields)) return;
      for (const key of keys) resolveAt(document, [list, index, inner, key], base);
    });
  };
  each('clusters', 'cluster', ['certificate-authority']);
  each('users', 'user', ['client-certificate', 'client-key', 'tokenFile']);
  const users = document.get('users', true);
  if (isSeq(users)) users.items.forEach((_item, index) => resolveAt(document, ['users', index, 'user', 'exec', 'command'], base, true));
}

/** Makes the string at `at` absolute; an exec command only when it is a path (has a "/"), not a name found on PATH. */
function resolveAt(document: Document, at: Array<string | number>, base: string, isCommand = false): void {
  const value = document.getIn(at);
  if (typeof value !== 'string' || value === '' || path.isAbsolute(value)) return;
  if (isCommand && !value.includes('/')) return;
  document.setIn(at, path.join(base, value));
}
