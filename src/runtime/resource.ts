import { freeze } from 'immer';

/** Lifecycle phase of a resource: `tearingDown` announces an upcoming destroy to finalizer holders. */
export type Phase = 'running' | 'tearingDown';

/** COSI-style resource metadata. Stored copies are deep-frozen. */
export interface Metadata {
  readonly namespace: string;
  readonly type: string;
  readonly id: string;
  /** 1 on create, +1 on every real change. */
  readonly version: number;
  /** Name of the controller (or source) that created it; `""` for none. Set once. */
  readonly owner: string;
  readonly phase: Phase;
  /** Sorted, without duplicates: a set with a stable order. */
  readonly finalizers: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** ISO 8601 timestamps. */
  readonly created: string;
  readonly updated: string;
}

/** A resource: metadata plus a spec of the type its definition declares. */
export interface Resource<S = unknown> {
  readonly metadata: Metadata;
  readonly spec: S;
}

/** Namespace and type: a kind of resource, as listed or watched together. */
export interface ResourceKind {
  readonly namespace: string;
  readonly type: string;
}

declare const specBrand: unique symbol;

/** Namespace, type and id of one resource; `S` (phantom) carries the spec type for typed reads. */
export interface ResourcePointer<S = unknown> extends ResourceKind {
  readonly id: string;
  readonly [specBrand]?: S;
}

/** A kind that carries its spec type (phantom) for typed lists and watches. */
export interface TypedKind<S = unknown> extends ResourceKind {
  readonly [specBrand]?: S;
}

/** What a caller hands to `create`: identity, optional labels/annotations/finalizers, and the spec. */
export interface NewResource<S = unknown> {
  readonly metadata: ResourcePointer<S> & {
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly finalizers?: readonly string[];
  };
  readonly spec: S;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Longest resource id (UTF-16 code units): far beyond any name or path an id is made of. */
export const RESOURCE_ID_MAX_LENGTH = 1024;

/**
 * What is wrong with a resource id, or undefined when it is fine: any non-empty string (`/`, spaces and
 * any other printable character included, as in COSI) up to {@link RESOURCE_ID_MAX_LENGTH}, without
 * control characters (they would garble logs and tables) and well-formed Unicode (so it survives JSON
 * and URL escaping).
 */
export function resourceIdProblem(id: string): string | undefined {
  if (id.length === 0) return 'must not be empty';
  if (id.length > RESOURCE_ID_MAX_LENGTH) return `is ${id.length} characters long; at most ${RESOURCE_ID_MAX_LENGTH} are allowed`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(id)) return 'must not contain control characters';
  if (LONE_SURROGATE.test(id)) return 'must be well-formed Unicode (no lone surrogates)';
  return undefined;
}

/** `namespace/type/id`, used as a map key and in messages. */
export function pointerKey(ptr: ResourcePointer): string {
  return `${ptr.namespace}/${ptr.type}/${ptr.id}`;
}

/** `namespace/type`, used as a map key and in messages. */
export function kindKey(kind: ResourceKind): string {
  return `${kind.namespace}/${kind.type}`;
}

/** Sorted copy without duplicates: finalizers are a set but must compare and print stably. */
export function normalizeFinalizers(finalizers: readonly string[]): string[] {
  return [...new Set(finalizers)].sort();
}

/** Deeper than any spec needs to nest; stored values are copied and frozen recursively, which must not overflow. */
export const MAX_SPEC_DEPTH = 256;

/** Whether arrays and objects in `value` nest more than `limit` levels deep (checked without recursion). */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: Array<[unknown, number]> = [[value, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [v, depth] = next;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) pending.push([child, depth + 1]);
  }
  return false;
}

/** Deep copy then deep freeze, so neither the caller's object nor later reads can change stored state. */
export function frozenCopy<T>(value: T): T {
  return freeze(structuredClone(value), true);
}

/** A metadata-only stand-in for a resource that does not exist (version 0, spec null). */
export function tombstone(ptr: ResourcePointer): Resource<null> {
  const epoch = new Date(0).toISOString();
  return freeze(
    {
      metadata: {
        namespace: ptr.namespace,
        type: ptr.type,
        id: ptr.id,
        version: 0,
        owner: '',
        phase: 'running',
        finalizers: [],
        labels: {},
        annotations: {},
        created: epoch,
        updated: epoch,
      },
      spec: null,
    },
    true,
  );
}
