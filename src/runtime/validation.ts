import { isDeepStrictEqual } from 'node:util';
import type { UpdateOptions } from './core.js';
import { OwnerConflictError, PhaseConflictError, ValidationError, type FieldIssue } from './errors.js';
import type { TypeRegistry } from './registry.js';
import {
  MAX_SPEC_DEPTH,
  nestsDeeperThan,
  pointerKey,
  resourceIdProblem,
  type NewResource,
  type Resource,
  type ResourcePointer,
} from './resource.js';

/** Checks identity, labels and spec of a write against the registry; returns it with its spec as the schema normalized it. */
export function validateWrite<R extends NewResource | Resource>(registry: TypeRegistry, res: R): R {
  const def = registry.require(res.metadata.type);
  const issues: FieldIssue[] = [];
  if (!registry.hasNamespace(res.metadata.namespace)) {
    issues.push({ path: 'metadata.namespace', message: `namespace "${res.metadata.namespace}" is not registered` });
  }
  const idProblem = resourceIdProblem(res.metadata.id);
  if (idProblem !== undefined) issues.push({ path: 'metadata.id', message: idProblem });
  for (const field of ['labels', 'annotations'] as const) {
    for (const [key, value] of Object.entries(res.metadata[field] ?? {})) {
      if (key === '' || typeof value !== 'string') {
        issues.push({ path: `metadata.${field}.${key}`, message: 'keys must be non-empty and values strings' });
      }
    }
  }
  // Checked first and without recursion: a spec nested thousands deep would overflow the stack in the
  // schema, the copy or the freeze, a RangeError no caller expects, instead of a validation error.
  if (nestsDeeperThan(res.spec, MAX_SPEC_DEPTH)) {
    throw invalid(res.metadata, [...issues, { path: 'spec', message: `nested more than ${MAX_SPEC_DEPTH} levels deep` }]);
  }
  const parsed = def.schema.safeParse(res.spec);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      issues.push({ path: ['spec', ...issue.path.map(String)].join('.'), message: issue.message });
    }
  }
  if (issues.length > 0 || !parsed.success) throw invalid(res.metadata, issues);
  return { ...res, spec: parsed.data };
}

/** Whether a validated candidate would change nothing that `update` stores. */
export function unchanged(current: Resource, candidate: Resource): boolean {
  return (
    isDeepStrictEqual(current.metadata.labels, candidate.metadata.labels) &&
    isDeepStrictEqual(current.metadata.annotations, candidate.metadata.annotations) &&
    isDeepStrictEqual(current.spec, candidate.spec)
  );
}

/** A no-op write is still refused to the wrong owner or in the wrong phase, as the write itself would be. */
export function checkNoOpWrite(current: Resource, options: UpdateOptions): void {
  const key = pointerKey(current.metadata);
  const owner = options.owner ?? '';
  if (current.metadata.owner !== owner) {
    throw new OwnerConflictError(`resource ${key} is owned by "${current.metadata.owner}", not "${owner}"`);
  }
  const expectedPhase = options.expectedPhase ?? 'running';
  if (expectedPhase !== 'any' && current.metadata.phase !== expectedPhase) {
    throw new PhaseConflictError(`resource ${key} is ${current.metadata.phase}, expected ${expectedPhase}`);
  }
}

/** A write refused by validation: every issue, in the message too. */
export function invalid(ptr: ResourcePointer, issues: readonly FieldIssue[]): ValidationError {
  return new ValidationError(`invalid ${pointerKey(ptr)}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, [...issues]);
}
