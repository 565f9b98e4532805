import { isIP } from 'node:net';
import { z } from 'zod';
import { describeValue } from './errors.js';
import { toInvalidConfigError, type RawIssue } from './issues.js';
import { isPlainObject, readWith } from './read.js';
import { DEFAULT_LOCAL_API_SERVER_PORT, machineTypeSchema, mapping, mustBe, portSchema } from './schemas.js';
import { readYamlDocuments } from './yaml-documents.js';

/** Longest id accepted (a DNS name's limit; member ids are node names). */
export const MAX_ID_LENGTH = 253;

/** What a resource id may look like: starts alphanumeric, then alphanumerics and `.`, `_`, `:`, `-`. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/u;

/** A resource id (here: a member's node name). */
export const memberIdSchema = z.custom<string>((v) => typeof v === 'string' && v.length <= MAX_ID_LENGTH && ID_PATTERN.test(v), {
  error: mustBe(`a valid id (letters, digits, ".", "_", ":", "-", starting with a letter or digit, at most ${MAX_ID_LENGTH} characters)`),
});

/** An IPv4 or IPv6 address, as `node:net` `isIP` understands them. */
export const ipAddressSchema = z.custom<string>((v) => typeof v === 'string' && isIP(v) !== 0, {
  error: mustBe('an IPv4 or IPv6 address'),
});

/** A non-empty string without surrounding spaces. */
const nameSchema = z.custom<string>((v) => typeof v === 'string' && v !== '' && v.trim() === v, {
  error: mustBe('a non-empty string without surrounding spaces'),
});

/** Only control-plane members run an API server; a worker claiming one would send traffic nowhere. */
function checkControlPlane(spec: { machineType: string; controlPlane?: unknown }, ctx: z.RefinementCtx): void {
  if (spec.machineType === 'worker' && spec.controlPlane !== undefined) {
    const message = 'only control-plane members have one (machineType is worker)';
    ctx.addIssue({ code: 'custom', path: ['controlPlane'], message });
  }
}

/** Fields of a member spec, shared by the spec schema and the members-file entry schema. */
const memberSpecShape = {
  nodeId: nameSchema,
  hostname: nameSchema,
  machineType: machineTypeSchema,
  addresses: z.array(ipAddressSchema, { error: mustBe('a list of IP addresses') }).min(1, { error: 'must list at least one address' }),
  controlPlane: mapping({ apiServerPort: portSchema.default(DEFAULT_LOCAL_API_SERVER_PORT) }).optional(),
};

/**
 * The Members resource spec (Talos `cluster.talos.dev` Members): parsing normalises it (`init` becomes
 * `controlplane`, `controlPlane: {}` gets port 6443), and parsing its own output changes nothing.
 */
export const memberSpecSchema = mapping(memberSpecShape).superRefine(checkControlPlane);

/** A cluster member as kubeprism uses it. */
export type MemberSpec = z.output<typeof memberSpecSchema>;

/** One member from a members file: its resource id and spec. */
export interface MemberEntry {
  id: string;
  spec: MemberSpec;
}

/** An entry of a members file: the spec fields plus `id`; `nodeId` defaults to the id. */
const memberEntrySchema = mapping({
  id: memberIdSchema,
  ...memberSpecShape,
  nodeId: nameSchema.optional(),
}).superRefine(checkControlPlane);

/**
 * Parses a members file (YAML or JSON): `members: [{id, hostname, machineType, addresses, controlPlane}]`.
 * Throws `InvalidConfigError` listing every problem, paths like `members.2.addresses.0`.
 */
export function parseMembersFile(text: string): MemberEntry[] {
  const read = readYamlDocuments(text);
  const invalid = (issues: RawIssue[]): Error =>
    toInvalidConfigError(issues, { documentCount: 1, label: () => 'members', locate: read.locate });
  if (read.issues.length > 0) throw invalid(read.issues);
  const [doc, ...more] = read.documents;
  if (doc === undefined) throw invalid([{ path: '', message: 'empty file: expected "members: [...]"' }]);
  if (more.length > 0) throw invalid([{ path: '', message: `expected one YAML document, found ${more.length + 1}` }]);
  if (!isPlainObject(doc) || !('members' in doc)) {
    const message = `required: a list of members (the file holds ${describeValue(doc)})`;
    throw invalid([{ document: 0, path: 'members', message }]);
  }
  const list = doc.members;
  if (!Array.isArray(list)) {
    const message = `must be a list, possibly empty (got ${describeValue(list)})`;
    throw invalid([{ document: 0, path: 'members', message }]);
  }

  const issues: RawIssue[] = [];
  const entries: MemberEntry[] = [];
  const seen = new Map<string, number>();
  list.forEach((raw: unknown, i) => {
    // Duplicates are judged on the raw ids, so one is reported even when either entry has other problems.
    const rawId = isPlainObject(raw) && typeof raw.id === 'string' ? raw.id : undefined;
    const first = rawId === undefined ? undefined : seen.get(rawId);
    if (rawId !== undefined && first !== undefined) {
      const message = `duplicate id "${rawId}" (also members.${first}.id)`;
      issues.push({ document: 0, path: `members.${i}.id`, message });
    } else if (rawId !== undefined) {
      seen.set(rawId, i);
    }
    const entry = readWith(memberEntrySchema, raw, issues, { document: 0, base: `members.${i}` });
    if (entry === undefined) return;
    const spec: MemberSpec = {
      nodeId: entry.nodeId ?? entry.id,
      hostname: entry.hostname,
      machineType: entry.machineType,
      addresses: entry.addresses,
    };
    if (entry.controlPlane !== undefined) spec.controlPlane = entry.controlPlane;
    entries.push({ id: entry.id, spec });
  });
  if (issues.length > 0) throw invalid(issues);
  return entries;
}
