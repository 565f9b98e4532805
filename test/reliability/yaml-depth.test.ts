import fc from 'fast-check';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { excessiveYamlNesting, MAX_YAML_NESTING } from '../../src/util/yaml-depth.js';
import { runs } from '../harness/mutations.js';

// The guard that keeps deeply nested YAML away from the parser (whose stack overflow can abort the
// process). It never parses, so these tests can feed it anything. What it must do: flag every text nested
// deeper than the limit, in any style (no false negatives), and let real-sized documents through.

/** A value nested `depth` levels deep, each level a mapping or a sequence, with some width on the way. */
const nested = (depth: number): fc.Arbitrary<unknown> =>
  fc.array(fc.tuple(fc.boolean(), fc.string({ maxLength: 6 }), fc.nat({ max: 2 })), { minLength: depth, maxLength: depth }).map((levels) =>
    levels.reduce<unknown>((inner, [asMap, key, siblings]) => {
      const padding = Array.from({ length: siblings }, (_, i) => i);
      return asMap ? Object.fromEntries([[`k${key}`, inner], ...padding.map((i) => [`p${i}`, i])]) : [...padding, inner];
    }, 'leaf'),
  );

/** Every way a document can be written: YAML block style, YAML flow style, JSON (compact and indented). */
const styles = (value: unknown): string[] => [
  stringify(value),
  stringify(value, { collectionStyle: 'flow' }),
  JSON.stringify(value),
  JSON.stringify(value, null, 2),
];

describe('excessiveYamlNesting: the nesting guard in front of the YAML parser', () => {
  it('flags every document nested deeper than the limit, whatever the style', () => {
    fc.assert(
      fc.property(fc.integer({ min: MAX_YAML_NESTING + 1, max: MAX_YAML_NESTING + 40 }).chain(nested), (value) => {
        for (const text of styles(value)) expect(excessiveYamlNesting(text), text.slice(0, 200)).toBeDefined();
      }),
      { numRuns: runs(100) },
    );
  });

  it('lets documents nested up to 98 levels through, whatever the style (the bound is tight, and never undercounts)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_YAML_NESTING - 2 }).chain(nested), (value) => {
        for (const text of styles(value)) expect(excessiveYamlNesting(text), text.slice(0, 200)).toBeUndefined();
      }),
      { numRuns: runs(100) },
    );
  });

  it('is not fooled by brackets in quotes, comments and block scalars, nor by closing brackets in strings', () => {
    const inert = '['.repeat(5_000) + '{'.repeat(5_000);
    for (const text of [
      `a: "${inert}"`,
      `a: '${inert}'`,
      `# ${inert}\na: 1`,
      `a: |\n  ${inert}\n  ${inert}\nb: 2`,
      `a: >-\n  ${inert}\n`,
    ]) {
      expect(excessiveYamlNesting(text), text.slice(0, 40)).toBeUndefined();
    }
    // Closing brackets inside strings do not cancel real openings.
    const sneaky = `${'[ "]", '.repeat(MAX_YAML_NESTING + 1)}x${']'.repeat(MAX_YAML_NESTING + 1)}`;
    expect(excessiveYamlNesting(sneaky)).toBeDefined();
  });

  it('says where: line and column of the first level too many', () => {
    const at = excessiveYamlNesting(`a: 1\nb: ${'['.repeat(500)}`);
    expect(at?.line).toBe(2);
    expect(at?.column).toBeGreaterThanOrEqual(MAX_YAML_NESTING - 2);
    expect(at?.column).toBeLessThanOrEqual(MAX_YAML_NESTING + 4);
    const blocks = Array.from({ length: 300 }, (_, i) => `${' '.repeat(i)}- `).join('\n');
    expect(excessiveYamlNesting(blocks)?.line).toBeLessThanOrEqual(MAX_YAML_NESTING + 1);
  });

  it('stops early on hostile input and stays linear on large real-sized input', () => {
    let started = performance.now();
    expect(excessiveYamlNesting('['.repeat(1024 * 1024))).toBeDefined();
    expect(performance.now() - started).toBeLessThan(200);
    const wide = Array.from({ length: 20_000 }, (_, i) => `key-${i}: [1, 2, {a: b, c: [d]}]  # comment ${i}`).join('\n');
    started = performance.now();
    expect(excessiveYamlNesting(wide)).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(3_000);
  });
});
