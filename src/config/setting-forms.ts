import { z } from 'zod';
import { settingForms, type SettingForm } from '../loadbalancer/settings.js';
import { formatDuration, tryParseDuration } from './duration.js';
import { describeValue } from './errors.js';
import { joinPath, type RawIssue } from './issues.js';
import { isPlainObject, readWith, type PlainObject } from './read.js';
import { closestWord } from './suggest.js';

// Reads a block of kubeprism's own settings from YAML by walking the zod schema that defines them (the
// balancer's settings, the discovery settings, the few listen fields around them). The schema says
// everything: the YAML key of each field, which ones are durations, the bounds for the messages, the
// defaults. Nothing here knows a setting by name.

/** One YAML value: which output field it fills, and how it is read. */
interface Leaf {
  readonly kind: 'leaf';
  /** Path of the field in the schema's output (`['healthCheck', 'intervalMs']`). */
  readonly field: readonly string[];
  /** The field's schema without its default/optional wrappers. */
  readonly core: z.ZodType;
  readonly form: SettingForm;
}

/** A YAML mapping: its keys, each a value or a nested mapping. */
interface Block {
  readonly kind: 'block';
  readonly keys: Map<string, Leaf | Block>;
}

const forms = new WeakMap<z.ZodObject, Block>();

/** The YAML shape of a settings schema (built once per schema). */
function blockOf(schema: z.ZodObject): Block {
  let root = forms.get(schema);
  if (root === undefined) {
    root = { kind: 'block', keys: new Map() };
    addFields(root, schema, []);
    forms.set(schema, root);
  }
  return root;
}

/** The schema under its default/prefault/optional wrappers, and the YAML form gathered from every layer. */
function unwrap(schema: z.ZodType): { core: z.ZodType; form: SettingForm } {
  let form: SettingForm = { ...settingForms.get(schema) };
  let core = schema;
  while (core instanceof z.ZodDefault || core instanceof z.ZodPrefault || core instanceof z.ZodOptional) {
    core = core.unwrap() as z.ZodType;
    form = { ...settingForms.get(core), ...form };
  }
  return { core, form };
}

/** The YAML key of a field: its own name, a duration's without `Ms`, or the path its form gives. */
function yamlPath(name: string, form: SettingForm): string[] {
  if (form.yaml !== undefined) return form.yaml.split('.');
  return [form.duration && name.endsWith('Ms') ? name.slice(0, -2) : name];
}

function addFields(into: Block, schema: z.ZodObject, prefix: readonly string[]): void {
  for (const [name, field] of Object.entries(schema.shape)) {
    const { core, form } = unwrap(field as z.ZodType);
    const path = yamlPath(name, form);
    const parent = blockAt(into, path.slice(0, -1));
    const key = path[path.length - 1] ?? name;
    if (core instanceof z.ZodObject && form.yaml === undefined) {
      addFields(blockAt(parent, [key]), core, [...prefix, name]);
      continue;
    }
    // A programming error, caught by the first test that reads any config.
    if (parent.keys.has(key)) throw new Error(`two settings are written as ${path.join('.')}`);
    parent.keys.set(key, { kind: 'leaf', field: [...prefix, name], core, form });
  }
}

function blockAt(root: Block, path: readonly string[]): Block {
  let block = root;
  for (const key of path) {
    let next = block.keys.get(key);
    if (next === undefined) {
      next = { kind: 'block', keys: new Map() };
      block.keys.set(key, next);
    }
    if (next.kind !== 'block') throw new Error(`setting ${key} is both a value and a block`);
    block = next;
  }
  return block;
}

/** Where a settings block was written, and what the caller wants said about keys it knows to be misplaced. */
export interface SettingsPlace {
  document?: number;
  /** Dotted path of the block from its document's root (`machine.features.kubePrism`, `""`). */
  base: string;
  /** For keys that are valid elsewhere but not here: what to say instead of "unknown setting". */
  misplaced?: Readonly<Record<string, string>>;
}

/**
 * Reads a YAML block of settings defined by `schema`: every key checked (unknown ones named with the
 * closest known key), values read in their YAML form (durations as Go duration strings), defaults
 * applied. Pushes every problem onto `issues` with its path; returns the settings only when there was none.
 */
export function readSettings<S extends z.ZodObject>(
  schema: S,
  value: unknown,
  issues: RawIssue[],
  place: SettingsPlace,
): z.output<S> | undefined {
  const before = issues.length;
  const root = blockOf(schema);
  const input: PlainObject = {};
  const issue = (path: string, message: string, at?: 'key'): void =>
    void issues.push({ document: place.document, path, message, ...(at ? { at } : {}) });

  const readBlock = (block: Block, yaml: unknown, path: string): void => {
    if (!isPlainObject(yaml)) return issue(path, `must be a mapping of fields (got ${describeValue(yaml)})`);
    for (const [key, v] of Object.entries(yaml)) {
      const at = joinPath(path, key);
      const form = block.keys.get(key);
      if (form === undefined) issue(at, unknownKey(root, block, key, place), 'key');
      // `key: ~` reads as absent, as Go reads it.
      else if (v === null || v === undefined) continue;
      else if (form.kind === 'block') readBlock(form, v, at);
      else {
        const read = readLeaf(form, v, at, issues, place.document);
        if (read.ok) setIn(input, form.field, read.value);
      }
    }
  };
  readBlock(root, value, place.base);
  if (issues.length > before) return undefined;

  // Defaults (and any refinement of the schema) come from the schema itself.
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  for (const iss of result.error.issues) issue(joinPath(place.base, ...iss.path.map(String)), iss.message);
  return undefined;
}

type Read = { ok: true; value: unknown } | { ok: false };

/** Reads one YAML value into what its field holds, or pushes why it cannot. */
function readLeaf(leaf: Leaf, v: unknown, at: string, issues: RawIssue[], document: number | undefined): Read {
  const fail = (message: string): Read => {
    issues.push({ document, path: at, message });
    return { ok: false };
  };
  const { core, form } = leaf;
  const got = `(got ${describeValue(v)})`;
  if (form.duration && core instanceof z.ZodNumber) return readDuration(core, v, fail);
  if (core instanceof z.ZodNumber) {
    if (typeof v === 'string' && NUMERIC.test(v.trim())) return fail(`must be a number, not a string ${got}; write it without quotes`);
    if (typeof v !== 'number' || !core.safeParse(v).success) return fail(`must be ${form.expected ?? describeNumber(core)} ${got}`);
    return { ok: true, value: v };
  }
  if (core instanceof z.ZodBoolean) {
    if (v === 'true' || v === 'false') return fail(`must be true or false, not a string ${got}; write it without quotes`);
    return typeof v === 'boolean' ? { ok: true, value: v } : fail(`must be true or false ${got}`);
  }
  if (core instanceof z.ZodEnum) {
    const options = core.options as readonly unknown[];
    return options.includes(v) ? { ok: true, value: v } : fail(`must be ${orList(options.map(String))} ${got}`);
  }
  // Anything else (names, paths, literals) speaks for itself through its schema's own messages.
  const data: unknown = readWith(core, v, issues, { document, base: at });
  return data === undefined ? { ok: false } : { ok: true, value: data };
}

const NUMERIC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/iu;

/** A Go duration string into whole milliseconds within the field's bounds. */
function readDuration(core: z.ZodNumber, v: unknown, fail: (message: string) => Read): Read {
  const got = `(got ${describeValue(v)})`;
  if (typeof v === 'number') {
    if (v < 0) return fail(`must not be negative ${got}`);
    if (v !== 0) return fail(`must be a duration with a unit, such as "5s" ${got}; write "${v}s" or "${v}ms"`);
    v = '0';
  }
  if (typeof v !== 'string') return fail(`must be a duration such as "5s" ${got}`);
  const result = tryParseDuration(v);
  if (!result.ok) return fail(result.message);
  const min = core.minValue ?? 0;
  const max = core.maxValue ?? Number.MAX_SAFE_INTEGER;
  if (result.ms < min) return fail(`must be at least ${formatDuration(min)} ${got}`);
  if (result.ms > max) return fail(`must be at most ${formatDuration(max)} ${got}`);
  if (!Number.isInteger(result.ms)) return fail(`must be a whole number of milliseconds ${got}`);
  return { ok: true, value: result.ms };
}

/** "a whole number from 1 to 1000000", "a number from 0 to 0.9". */
function describeNumber(core: z.ZodNumber): string {
  const what = core.isInt ? 'a whole number' : 'a number';
  const { minValue: min, maxValue: max } = core;
  const bounded = (n: number | null): n is number => n !== null && Number.isFinite(n) && Math.abs(n) < Number.MAX_SAFE_INTEGER;
  if (bounded(min) && bounded(max)) return `${what} from ${min} to ${max}`;
  if (bounded(min)) return `${what} of at least ${min}`;
  if (bounded(max)) return `${what} of at most ${max}`;
  return what;
}

/** "tcp, tls or readyz". */
function orList(words: readonly string[]): string {
  return words.length < 2 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

/**
 * What to say about a key the block does not know: the caller's word for a misplaced key, else the
 * closest key of this block, else the same key elsewhere in the settings (`interval` written outside
 * `healthCheck`), else the keys this block knows.
 */
function unknownKey(root: Block, block: Block, key: string, place: SettingsPlace): string {
  const misplaced = place.misplaced?.[key];
  if (misplaced !== undefined) return `unknown setting here: ${misplaced}`;
  const near = closestWord(key, block.keys.keys());
  if (near !== undefined) return `unknown setting; did you mean ${near}?`;
  const elsewhere = pathsOf(root).find((p) => p[p.length - 1]?.toLowerCase() === key.toLowerCase() && lookup(root, p) !== block);
  if (elsewhere !== undefined) return `unknown setting here; did you mean ${joinPath(place.base, ...elsewhere)}?`;
  return `unknown setting; known here: ${[...block.keys.keys()].join(', ')}`;
}

/** Every key path of a block tree, blocks included. */
function pathsOf(block: Block, prefix: readonly string[] = []): string[][] {
  return [...block.keys].flatMap(([key, form]) => {
    const path = [...prefix, key];
    return form.kind === 'block' ? [path, ...pathsOf(form, path)] : [path];
  });
}

/** The block holding the last key of `path`. */
function lookup(root: Block, path: readonly string[]): Block | undefined {
  let block: Block = root;
  for (const key of path.slice(0, -1)) {
    const next = block.keys.get(key);
    if (next?.kind !== 'block') return undefined;
    block = next;
  }
  return block;
}

function setIn(target: PlainObject, path: readonly string[], value: unknown): void {
  let cur = target;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (isPlainObject(next)) cur = next;
    else {
      const created: PlainObject = {};
      cur[key] = created;
      cur = created;
    }
  }
  const last = path[path.length - 1];
  if (last !== undefined) cur[last] = value;
}

/** One setting as written in YAML: its dotted key, the output field it fills, and whether it is a duration. */
export interface SettingLeaf {
  readonly yaml: string;
  readonly field: string;
  readonly duration: boolean;
}

/** Every setting a settings schema accepts, in schema order (for docs and tests). */
export function settingLeaves(schema: z.ZodObject): SettingLeaf[] {
  const leaves: SettingLeaf[] = [];
  const walk = (block: Block, prefix: readonly string[]): void => {
    for (const [key, form] of block.keys) {
      if (form.kind === 'block') walk(form, [...prefix, key]);
      else leaves.push({ yaml: [...prefix, key].join('.'), field: form.field.join('.'), duration: form.form.duration === true });
    }
  };
  walk(blockOf(schema), []);
  return leaves;
}
