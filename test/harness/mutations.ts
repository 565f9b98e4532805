import fc from 'fast-check';

// Random edits of config text, for the bad-input properties: what a broken editor save, a bad merge or a
// half-finished templating run does to a YAML file.

/**
 * Runs of a property: `n` in `npm test`; KP_PROPERTY_SCALE=20 multiplies them for a deeper search
 * (a failure prints its seed, to replay with fast-check's `seed` option).
 */
export function runs(n: number): number {
  return Math.max(1, Math.round(n * Number(process.env.KP_PROPERTY_SCALE ?? 1)));
}

/** One edit: cut, insert, splice in YAML punctuation, duplicate, swap or re-indent a line. */
export type Mutation =
  | { readonly kind: 'cut'; readonly at: number; readonly len: number }
  | { readonly kind: 'insert'; readonly at: number; readonly text: string }
  | { readonly kind: 'dupLine'; readonly at: number }
  | { readonly kind: 'swapLines'; readonly at: number; readonly with: number }
  | { readonly kind: 'indent'; readonly at: number; readonly by: number };

/** Arbitrary edits, weighted towards the ones that keep YAML almost valid (the interesting cases). */
export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), len: fc.nat({ max: 20 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.string({ maxLength: 8 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.constantFrom(
      ':',
      '- ',
      '---\n',
      '{',
      '}',
      '[',
      ']',
      '&a ',
      '*a',
      '!!binary ',
      '"',
      "'",
      '#',
      '\t',
      '  ',
      '\n',
      '~',
      '<<: ',
      '0',
      '-1',
      'null',
    ),
  }),
  fc.record({ kind: fc.constant('dupLine' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swapLines' as const), at: fc.nat(), with: fc.nat() }),
  fc.record({ kind: fc.constant('indent' as const), at: fc.nat(), by: fc.integer({ min: -4, max: 4 }) }),
);

/** Applies one edit to `text`. */
export function mutate(text: string, m: Mutation): string {
  const at = text.length === 0 ? 0 : m.at % text.length;
  const lines = text.split('\n');
  const line = m.at % lines.length;
  switch (m.kind) {
    case 'cut':
      return text.slice(0, at) + text.slice(at + m.len);
    case 'insert':
      return text.slice(0, at) + m.text + text.slice(at);
    case 'dupLine':
      return [...lines.slice(0, line + 1), ...lines.slice(line)].join('\n');
    case 'swapLines': {
      const other = m.with % lines.length;
      const copy = [...lines];
      [copy[line], copy[other]] = [copy[other] ?? '', copy[line] ?? ''];
      return copy.join('\n');
    }
    case 'indent': {
      const copy = [...lines];
      const l = copy[line] ?? '';
      copy[line] = m.by >= 0 ? ' '.repeat(m.by) + l : l.replace(new RegExp(`^ {0,${-m.by}}`, 'u'), '');
      return copy.join('\n');
    }
  }
}

/** A seed text after one to six random edits. */
export function mutated(seeds: readonly string[]): fc.Arbitrary<string> {
  return fc
    .tuple(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 6 }))
    .map(([seed, edits]) => edits.reduce(mutate, seed));
}

/** A value that is wrong almost anywhere a config expects something specific. */
export const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    '',
    ' ',
    '0',
    '-1',
    '1e999',
    'true',
    'yes',
    '~',
    'https://',
    '::',
    '10.0.0.999',
    'controlplane ',
    '5 s',
    'P1D',
    70000,
    -1,
    0.5,
    2 ** 53,
  ),
);

/** Whether an issue at `issuePath` names `changed`, something inside it, or a parent of it. */
export function pathRelated(issuePath: string, changed: string): boolean {
  return issuePath === changed || issuePath.startsWith(`${changed}.`) || changed.startsWith(`${issuePath}.`);
}

/** A deep copy of `doc` with `value` written at `path` (intermediate objects created as needed). */
export function withValue(doc: unknown, path: readonly string[], value: unknown): unknown {
  const copy = structuredClone(doc) as Record<string, unknown>;
  let cur = copy;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    cur = (cur[key] = next !== null && typeof next === 'object' ? next : {}) as Record<string, unknown>;
  }
  cur[path[path.length - 1] as string] = value;
  return copy;
}
