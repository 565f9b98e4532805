import type { Resource } from './resource.js';

/** Operators that compare the label value with one string, byte-wise (`lt`: value < term value). */
export type StringComparison = 'lt' | 'lte' | 'gt' | 'gte';

/** The same comparisons on numbers with optional unit suffixes (`10k`, `2Mi`), as COSI reads them. */
export type NumericComparison = 'ltNumeric' | 'lteNumeric' | 'gtNumeric' | 'gteNumeric';

/**
 * One label condition. A term on a label the resource does not have is false, so its `invert` is true
 * (COSI's rule: "not equal x" matches resources without the label). Numeric comparisons where either
 * side is not a number are false whether inverted or not.
 */
export type LabelTerm =
  | { readonly key: string; readonly op: 'exists'; readonly invert?: boolean }
  | { readonly key: string; readonly op: 'equal'; readonly value: string; readonly invert?: boolean }
  | { readonly key: string; readonly op: 'in'; readonly values: readonly string[]; readonly invert?: boolean }
  | { readonly key: string; readonly op: StringComparison | NumericComparison; readonly value: string; readonly invert?: boolean };

/**
 * Filters for list and watch-kind. `labels` is one query (every term must hold); `labelQueries` are
 * alternatives (a resource matches when any of them holds). Given both, a non-empty `labels` is one more
 * alternative.
 * The id must match `idRegexp` in any case.
 */
export interface ResourceQuery {
  readonly labels?: readonly LabelTerm[];
  readonly labelQueries?: ReadonlyArray<readonly LabelTerm[]>;
  readonly idRegexp?: RegExp;
}

const DECIMAL_UNITS: Readonly<Record<string, bigint>> = { k: 10n ** 3n, m: 10n ** 6n, g: 10n ** 9n, t: 10n ** 12n, p: 10n ** 15n };
const BINARY_UNITS: Readonly<Record<string, bigint>> = { ki: 1n << 10n, mi: 1n << 20n, gi: 1n << 30n, ti: 1n << 40n, pi: 1n << 50n };
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/**
 * Reads a label value as an integer the way COSI does: leading digits (and `-`), then an optional unit
 * whose first two letters name a binary multiple (`Ki`…`Pi`) or whose first letter names a decimal one
 * (`k`…`p`), case-insensitive. Undefined when it is not a number (or does not fit 64 bits).
 */
export function parseLabelNumber(text: string): bigint | undefined {
  const value = text.trim();
  const split = value.search(/[^0-9-]/);
  const digits = split === -1 ? value : value.slice(0, split);
  if (!/^-?\d+$/.test(digits)) return undefined;
  const number = BigInt(digits);
  if (number < INT64_MIN || number > INT64_MAX) return undefined;
  const unit = (split === -1 ? '' : value.slice(split)).trim().toLowerCase();
  if (unit === '') return number;
  const multiplier = BINARY_UNITS[unit.slice(0, 2)] ?? DECIMAL_UNITS[unit.slice(0, 1)];
  return multiplier === undefined ? undefined : number * multiplier;
}

function compare<T>(op: StringComparison, left: T, right: T): boolean {
  switch (op) {
    case 'lt':
      return left < right;
    case 'lte':
      return left <= right;
    case 'gt':
      return left > right;
    case 'gte':
      return left >= right;
  }
}

const NUMERIC_TO_STRING: Readonly<Record<NumericComparison, StringComparison>> = {
  ltNumeric: 'lt',
  lteNumeric: 'lte',
  gtNumeric: 'gt',
  gteNumeric: 'gte',
};

/** Whether the labels satisfy one term (see {@link LabelTerm} for missing labels and non-numbers). */
export function termHolds(term: LabelTerm, labels: Readonly<Record<string, string>>): boolean {
  const value = Object.hasOwn(labels, term.key) ? labels[term.key] : undefined;
  if (value === undefined) return term.invert === true;
  let holds: boolean;
  switch (term.op) {
    case 'exists':
      holds = true;
      break;
    case 'equal':
      holds = value === term.value;
      break;
    case 'in':
      holds = term.values.includes(value);
      break;
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte':
      holds = compare(term.op, value, term.value);
      break;
    default: {
      const left = parseLabelNumber(value);
      const right = parseLabelNumber(term.value);
      if (left === undefined || right === undefined) return false;
      holds = compare(NUMERIC_TO_STRING[term.op], left, right);
    }
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
  const labels = res.metadata.labels;
  const holdsAll = (terms: readonly LabelTerm[]): boolean => terms.every((term) => termHolds(term, labels));
  if (query.labelQueries === undefined || query.labelQueries.length === 0) return holdsAll(query.labels ?? []);
  // An empty `labels` beside alternatives is no alternative of its own (it would match everything).
  return (query.labels !== undefined && query.labels.length > 0 && holdsAll(query.labels)) || query.labelQueries.some(holdsAll);
}

/** True when the query filters anything at all. */
export function isFiltering(query: ResourceQuery | undefined): boolean {
  return query !== undefined && (query.idRegexp !== undefined || (query.labels?.length ?? 0) > 0 || (query.labelQueries?.length ?? 0) > 0);
}
