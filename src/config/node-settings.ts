import { isIP } from 'node:net';
import { z } from 'zod';
import { describeValue } from './errors.js';
import { isPlainObject } from './read.js';
import { closestWord } from './suggest.js';

// kubeprism's settings about the node around the balancer, written next to the KubePrism port in either
// form: which kubeconfigs of the node's components to adopt, and where to serve metrics. Read as strictly
// as the balancer's (setting-forms.ts walks these schemas with the rest).

/** An IP literal and a port, as a listener binds it. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses `host:port` or `[ipv6]:port` with an IP literal host (`localhost` is 127.0.0.1) and a port
 * from 1 to 65535; undefined when it is not one. Names are refused: a resolver could map them anywhere.
 */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const match = /^\[([^\]]+)\]:(\d{1,5})$/u.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/u.exec(text);
  if (!match) return undefined;
  const host = match[1] === 'localhost' ? '127.0.0.1' : (match[1] ?? '');
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return undefined;
  // A bracketed host must be IPv6 and a bare one IPv4, as in a URL.
  const family = isIP(host);
  if (family === 0 || (family === 6) !== text.startsWith('[')) return undefined;
  return { host, port };
}

/** `metricsAddress`: where the read-only metrics listener binds (any interface). */
export const metricsAddressSchema = z.custom<string>((v) => typeof v === 'string' && parseListenAddress(v) !== undefined, {
  error: (iss) =>
    `must be an IP address and port such as "0.0.0.0:9445" or "[::]:9445" (got ${describeValue(iss.input)}); names are not resolved`,
});

/** Longest adopted name: it becomes a directory name under the output directory. */
const MAX_NAME_LENGTH = 63;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/u;

/** One adopted kubeconfig: the component's name (its output directory) and the file the node already has. */
export interface Adoption {
  readonly name: string;
  readonly path: string;
}

/** Why `name` cannot name an adopted kubeconfig, or undefined when it can. */
export function adoptionNameProblem(name: string): string | undefined {
  if (name.length > MAX_NAME_LENGTH) return `must be at most ${MAX_NAME_LENGTH} characters`;
  if (!NAME.test(name)) return 'must be letters, digits, ".", "_" or "-", starting with a letter or digit (it names a directory)';
  return undefined;
}

const ADOPTION_KEYS = ['name', 'path'] as const;

/**
 * `adoptKubeconfigs: [{name: kubelet, path: /etc/kubernetes/kubelet.conf}, …]`: each entry strict (an
 * unknown key is named with the closest known one), names unique within the list.
 */
export const adoptKubeconfigsSchema = z
  .custom<Adoption[]>((v) => Array.isArray(v), { error: (iss) => `must be a list of {name, path} (got ${describeValue(iss.input)})` })
  .superRefine((list, ctx) => {
    const seen = new Map<string, number>();
    list.forEach((item: unknown, index) => {
      const issue = (path: Array<string | number>, message: string): void =>
        void ctx.addIssue({ code: 'custom', path: [index, ...path], message, input: item });
      if (!isPlainObject(item)) return issue([], `must be a mapping with name and path (got ${describeValue(item)})`);
      for (const key of Object.keys(item)) {
        if ((ADOPTION_KEYS as readonly string[]).includes(key)) continue;
        const near = closestWord(key, ADOPTION_KEYS);
        issue([key], near === undefined ? 'unknown setting; known here: name, path' : `unknown setting; did you mean ${near}?`);
      }
      const { name, path } = item;
      if (name === undefined || name === null) issue(['name'], 'required: the component, e.g. kubelet (its output directory)');
      else if (typeof name !== 'string') issue(['name'], `must be a string (got ${describeValue(name)})`);
      else {
        const problem = adoptionNameProblem(name);
        if (problem !== undefined) issue(['name'], `${problem} (got ${describeValue(name)})`);
        const first = seen.get(name);
        if (first !== undefined) issue(['name'], `${name} is adopted twice: also by item ${first} of this list`);
        else seen.set(name, index);
      }
      if (path === undefined || path === null) issue(['path'], 'required: the kubeconfig file the node already has');
      else if (typeof path !== 'string' || !path.startsWith('/') || path.includes('\0')) {
        issue(['path'], `must be an absolute file path such as "/etc/kubernetes/kubelet.conf" (got ${describeValue(path)})`);
      }
    });
  });
