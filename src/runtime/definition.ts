import { z } from 'zod';
import { RegistrationError } from './errors.js';
import type { Resource, ResourcePointer, TypedKind } from './resource.js';

/** A table column: header and a `{.field.sub}` path into the spec (the talosctl convention). */
export interface PrintColumn {
  readonly name: string;
  readonly jsonPath: string;
}

/** Whether specs of a type may be shown as they are, or must be redacted in every dump. */
export type Sensitivity = 'public' | 'sensitive';

/** Everything the runtime knows about one resource type. */
export interface ResourceDefinition<S = unknown> {
  /** `Names.group.suffix`, CamelCase plural first segment, e.g. `KubePrismStatuses.kubernetes.talos.dev`. */
  readonly type: string;
  /** The first segment of the type, e.g. `KubePrismStatuses`. */
  readonly plural: string;
  /** Singular display name, e.g. `KubePrismStatus`. */
  readonly displayType: string;
  readonly defaultNamespace: string;
  /** Lower-case singular, capital-letter abbreviation, then any extra aliases. */
  readonly aliases: readonly string[];
  readonly printColumns: readonly PrintColumn[];
  readonly sensitivity: Sensitivity;
  /** Every write is checked (and normalized) by this schema. */
  readonly schema: z.ZodType<S>;
  /** Replaces secrets in a spec for display; only consulted for sensitive types. */
  redact(spec: S): unknown;
}

/** The spec type of a definition. */
export type SpecOf<D> = D extends ResourceDefinition<infer S> ? S : never;

/** Options for {@link defineResource}. */
export interface DefineResourceOptions<T extends z.ZodType> {
  type: string;
  defaultNamespace: string;
  schema: T;
  /** Overrides the generated singular when English defeats the rules. */
  displayType?: string;
  aliases?: readonly string[];
  printColumns?: readonly PrintColumn[];
  sensitivity?: Sensitivity;
  redact?: (spec: z.output<T>) => unknown;
}

/** A namespace name: a DNS label (lower-case letters, digits and inner dashes). */
export const NAMESPACE_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

const TYPE_NAME = /^([A-Z][A-Za-z0-9]*s)\.([a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;

/** Checks a type name against `Names.group.suffix` and returns its plural part. */
export function parseTypeName(type: string): string {
  const match = TYPE_NAME.exec(type);
  if (!match || match[1] === undefined) {
    throw new RegistrationError(
      `invalid resource type "${type}": want "Names.group.suffix" with a CamelCase plural, e.g. "KubePrismStatuses.kubernetes.talos.dev"`,
    );
  }
  return match[1];
}

/** English singular of a CamelCase plural: `Statuses` → `Status`, `Policies` → `Policy`, `Configs` → `Config`. */
export function singularize(plural: string): string {
  const rules: Array<[RegExp, string]> = [
    [/ies$/, 'y'],
    [/(ss|us|x|ch|sh)es$/, '$1'],
    [/s$/, ''],
  ];
  for (const [pattern, replacement] of rules) {
    if (pattern.test(plural)) return plural.replace(pattern, replacement);
  }
  return plural;
}

/** Lower-cased capitals of a CamelCase name: `KubePrismStatuses` → `kps`. */
export function abbreviate(name: string): string {
  return name.replace(/[^A-Z]/g, '').toLowerCase();
}

/** Declares a resource type; validates the name and derives plural, singular and aliases once. */
export function defineResource<T extends z.ZodType>(options: DefineResourceOptions<T>): ResourceDefinition<z.output<T>> {
  const plural = parseTypeName(options.type);
  const displayType = options.displayType ?? singularize(plural);
  if (!NAMESPACE_NAME.test(options.defaultNamespace)) {
    throw new RegistrationError(`invalid default namespace "${options.defaultNamespace}" for ${options.type}`);
  }
  const aliases = [displayType.toLowerCase(), abbreviate(plural), ...(options.aliases ?? []).map((a) => a.toLowerCase())];
  return Object.freeze({
    type: options.type,
    plural,
    displayType,
    defaultNamespace: options.defaultNamespace,
    aliases: Object.freeze([...new Set(aliases)]),
    printColumns: Object.freeze([...(options.printColumns ?? [])]),
    sensitivity: options.sensitivity ?? 'public',
    schema: options.schema as z.ZodType<z.output<T>>,
    redact: options.redact ?? (() => '(redacted)'),
  });
}

/** Every lower-case name a definition answers to: type, plural (the type's first part), singular and aliases. */
export function namesOf(def: { readonly type: string; readonly aliases: readonly string[] }): string[] {
  return [...new Set([def.type.toLowerCase(), (def.type.split('.')[0] ?? '').toLowerCase(), ...def.aliases])];
}

/**
 * The definitions a user-typed name refers to: the one whose type it is exactly (any case), else every
 * one it names by type, plural, singular or alias. One match resolves; several are ambiguous.
 */
export function matchDefinitions<D extends { readonly type: string; readonly aliases: readonly string[] }>(
  defs: readonly D[],
  name: string,
): D[] {
  const wanted = name.trim().toLowerCase();
  const exact = defs.filter((def) => def.type.toLowerCase() === wanted);
  return exact.length === 1 ? exact : defs.filter((def) => namesOf(def).includes(wanted));
}

/** A typed pointer to a resource of `def` (in its default namespace unless given). */
export function ptr<S>(def: ResourceDefinition<S>, id: string, namespace = def.defaultNamespace): ResourcePointer<S> {
  return { namespace, type: def.type, id };
}

/** A typed kind (namespace + type) of `def`, for lists and watches. */
export function kindOf<S>(def: ResourceDefinition<S>, namespace = def.defaultNamespace): TypedKind<S> {
  return { namespace, type: def.type };
}

/** Reads a `{.a.b}` print-column path from a spec; undefined when any step is missing. */
export function readColumn(spec: unknown, jsonPath: string): unknown {
  const path = jsonPath.replace(/^\{\.?/, '').replace(/\}$/, '');
  if (path === '') return spec;
  let value: unknown = spec;
  for (const step of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[step];
  }
  return value;
}

/** A resource as it may be shown to anyone: sensitive specs replaced by their redacted form. */
export function redacted<S>(def: ResourceDefinition<S>, res: Resource<S>): Resource<unknown> {
  if (def.sensitivity !== 'sensitive') return res;
  return { metadata: res.metadata, spec: def.redact(res.spec) };
}

/** The meta type that lists every registered definition (`talosctl get rd`). */
export const ResourceDefinitionType = defineResource({
  type: 'ResourceDefinitions.meta.cosi.dev',
  defaultNamespace: 'meta',
  schema: z.object({
    type: z.string(),
    displayType: z.string(),
    defaultNamespace: z.string(),
    aliases: z.array(z.string()),
    printColumns: z.array(z.object({ name: z.string(), jsonPath: z.string() })),
    sensitivity: z.enum(['public', 'sensitive']),
  }),
  printColumns: [{ name: 'Aliases', jsonPath: '{.aliases}' }],
});

/** The meta type that lists every registered namespace. */
export const NamespaceType = defineResource({
  type: 'Namespaces.meta.cosi.dev',
  defaultNamespace: 'meta',
  aliases: ['ns'],
  schema: z.object({ description: z.string() }),
  printColumns: [{ name: 'Description', jsonPath: '{.description}' }],
});

/** Namespace of the runtime's own resources. */
export const RUNTIME_NAMESPACE = 'runtime';

/** Health of each registered controller, written by the engine when it crashes and when it recovers. */
export const ControllerStatusType = defineResource({
  type: 'ControllerStatuses.runtime.kubeprism.dev',
  defaultNamespace: RUNTIME_NAMESPACE,
  schema: z.object({
    crashes: z.number().int().min(0),
    consecutiveFailures: z.number().int().min(0),
    backingOff: z.boolean(),
    lastError: z.string().optional(),
    lastCrashAt: z.string().optional(),
  }),
  printColumns: [
    { name: 'Crashes', jsonPath: '{.crashes}' },
    { name: 'Backing Off', jsonPath: '{.backingOff}' },
    { name: 'Last Error', jsonPath: '{.lastError}' },
  ],
});
