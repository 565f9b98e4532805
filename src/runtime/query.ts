import type { Resource } from './resource.js';

/** One label condition; `invert` turns it into its negation (`not exists`, `not equal`, `not in`). */
export type LabelTerm =
  | { readonly key: string; readonly op: 'exists'; readonly invert?: boolean }
  | { readonly key: string; readonly op: 'equal'; readonly value: string; readonly invert?: boolean }
  | { readonly key: string; readonly op: 'in'; readonly values: readonly string[]; readonly invert?: boolean };

/** Filters for list and watch-kind: every label term must hold and the id must match the regexp. */
export interface ResourceQuery {
  readonly labels?: readonly LabelTerm[];
  readonly idRegexp?: RegExp;
}

function termHolds(term: LabelTerm, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, term.key);
  const value = labels[term.key];
  let holds: boolean;
  switch (term.op) {
    case 'exists':
      holds = has;
      break;
    case 'equal':
      holds = has && value === term.value;
      break;
    case 'in':
      holds = has && value !== undefined && term.values.includes(value);
      break;
  }
  return term.invert ? !holds : holds;
}

/** True when the resource satisfies the query (an empty query matches everything). */
export function matchesQuery(res: Resource, query: ResourceQuery | undefined): boolean {
  if (!query) return true;
  if (query.idRegexp) {
    // A global or sticky regexp keeps lastIndex between calls; reset it so matching is stateless.
    query.idRegexp.lastIndex = 0;
    if (!query.idRegexp.test(res.metadata.id)) return false;
  }
  return (query.labels ?? []).every((term) => termHolds(term, res.metadata.labels));
}
