import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { DISCOVERY_CODES, DiscoveryError } from './errors.js';

/** What a kubeconfig gives the discovery source: trust, identity, and the name to verify. */
export interface ApiCredentials {
  /** Trusted CA bundle (PEM); absent: the system's CAs. */
  readonly ca?: Buffer;
  /** Client certificate and key (PEM). */
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** Bearer token. */
  readonly token?: string;
  /** `tls-server-name`: the name to expect in the API server's certificate. */
  readonly tlsServerName?: string;
  readonly insecureSkipTlsVerify: boolean;
}

/** Bound on the kubeconfig and every file it names: credentials are small. */
const MAX_FILE_BYTES = 1024 * 1024;

// Lists of `{name, <kind>: {...}}`; the entry in use is checked in detail once picked.
const namedList = z.array(z.object({ name: z.string() }).loose()).nullish();

const clusterSchema = z.object({
  'certificate-authority': z.string().nullish(),
  'certificate-authority-data': z.string().nullish(),
  'tls-server-name': z.string().nullish(),
  'insecure-skip-tls-verify': z.boolean().nullish(),
});
const userSchema = z
  .object({
    'client-certificate': z.string().nullish(),
    'client-certificate-data': z.string().nullish(),
    'client-key': z.string().nullish(),
    'client-key-data': z.string().nullish(),
    token: z.string().nullish(),
    tokenFile: z.string().nullish(),
  })
  .loose();
const contextSchema = z.object({ cluster: z.string(), user: z.string().nullish() });
const kubeconfigSchema = z.object({
  clusters: namedList,
  users: namedList,
  contexts: namedList,
  'current-context': z.string().nullish(),
});

type Entry = { name: string } & Record<string, unknown>;

function fail(file: string, message: string, cause?: unknown): DiscoveryError {
  return new DiscoveryError(DISCOVERY_CODES.credentials, `kubeconfig ${file}: ${message}`, cause === undefined ? undefined : { cause });
}

async function readBounded(file: string, what: string, origin: string): Promise<Buffer> {
  try {
    const info = await stat(file);
    if (info.size > MAX_FILE_BYTES) throw fail(origin, `${what} ${file} is larger than ${MAX_FILE_BYTES} bytes`);
    return await readFile(file);
  } catch (err) {
    if (err instanceof DiscoveryError) throw err;
    throw fail(origin, `cannot read ${what} ${file}: ${(err as Error).message}`, err);
  }
}

/** The `kind` part of the entry called `name`, checked against its schema. */
function pick<T extends z.ZodType>(
  list: readonly Entry[] | null | undefined,
  name: string,
  kind: string,
  schema: T,
  file: string,
): z.output<T> {
  const found = (list ?? []).find((e) => e.name === name);
  if (!found) throw fail(file, `no ${kind} named ${JSON.stringify(name)}`);
  const parsed = schema.safeParse(found[kind] ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw fail(file, `${kind} ${JSON.stringify(name)}: ${[kind, ...(issue?.path ?? [])].join('.')}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/**
 * Reads the credentials of a kubeconfig's current context (or its only context). Relative file paths
 * are resolved against the kubeconfig's directory, as kubectl does. Read afresh on every call, so a
 * rotated client certificate (the kubelet's) is picked up on the next connection. Exec plugins, auth
 * providers and passwords are refused with a `credentials` DiscoveryError, as is anything unreadable.
 */
export async function loadKubeconfig(file: string): Promise<ApiCredentials> {
  const text = (await readBounded(file, 'file', file)).toString('utf8');
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw fail(file, `not YAML: ${(err as Error).message.split('\n')[0]}`, err);
  }
  const parsed = kubeconfigSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw fail(file, `${issue?.path.join('.') || 'document'}: ${issue?.message ?? 'not a kubeconfig'}`);
  }
  const config = parsed.data;
  const contexts = config.contexts ?? [];
  const contextName = config['current-context'] || (contexts.length === 1 ? contexts[0]?.name : undefined);
  if (contextName === undefined || contextName === '') throw fail(file, 'no current-context, and not exactly one context');
  const context = pick(contexts, contextName, 'context', contextSchema, file);
  const cluster = pick(config.clusters, context.cluster, 'cluster', clusterSchema, file);
  const user = context.user ? pick(config.users, context.user, 'user', userSchema, file) : userSchema.parse({});

  for (const unsupported of ['exec', 'auth-provider', 'username', 'password'] as const) {
    if (user[unsupported] !== undefined && user[unsupported] !== null) {
      throw fail(file, `user ${JSON.stringify(context.user)}: ${unsupported} is not supported; use a client certificate or a token`);
    }
  }
  const dir = path.dirname(file);
  const fromFile = (p: string, what: string): Promise<Buffer> => readBounded(path.resolve(dir, p), what, file);
  const fromData = (data: string, what: string): Buffer => {
    const bytes = Buffer.from(data, 'base64');
    if (bytes.length === 0) throw fail(file, `${what} is not base64 data`);
    return bytes;
  };
  const either = async (data: string | null | undefined, p: string | null | undefined, what: string): Promise<Buffer | undefined> =>
    data ? fromData(data, `${what}-data`) : p ? fromFile(p, what) : undefined;

  const ca = await either(cluster['certificate-authority-data'], cluster['certificate-authority'], 'certificate-authority');
  const cert = await either(user['client-certificate-data'], user['client-certificate'], 'client-certificate');
  const key = await either(user['client-key-data'], user['client-key'], 'client-key');
  if ((cert === undefined) !== (key === undefined)) throw fail(file, 'a client certificate needs its key, and a key its certificate');
  let token = user.token ?? undefined;
  if (!token && user.tokenFile) token = (await fromFile(user.tokenFile, 'tokenFile')).toString('utf8').trim();
  if (cert === undefined && !token) throw fail(file, `user ${JSON.stringify(context.user ?? '')} has no client certificate and no token`);
  return {
    ...(ca ? { ca } : {}),
    ...(cert && key ? { cert, key } : {}),
    ...(token ? { token } : {}),
    ...(cluster['tls-server-name'] ? { tlsServerName: cluster['tls-server-name'] } : {}),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
  };
}
