import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/io.js';
import { matchesSelector, parseSelector } from '../../src/cli/selector.js';

// Kubernetes label-selector semantics, client-side: every requirement must hold; `!=` and `notin` also
// match a resource without the key; a malformed selector is a usage error naming what is wrong.

const labels = { 'kubeprism.dev/source': 'file', tier: 'a', weight: '7' };
const select = (selector: string, on: Record<string, string> = labels): boolean => matchesSelector(parseSelector(selector), on);

describe('label selectors', () => {
  it.each([
    ['', true],
    ['kubeprism.dev/source=file', true],
    ['kubeprism.dev/source==file', true],
    ['kubeprism.dev/source=api', false],
    ['kubeprism.dev/source!=api', true],
    ['kubeprism.dev/source!=file', false],
    ['missing!=x', true], // an absent key is "not equal"
    ['tier', true],
    ['missing', false],
    ['!missing', true],
    ['!tier', false],
    ['tier in (a,b)', true],
    ['tier in (b, c)', false],
    ['missing in (a)', false],
    ['tier notin (b,c)', true],
    ['tier notin (a)', false],
    ['missing notin (a)', true],
    ['weight>5', true],
    ['weight<5', false],
    ['tier>1', false], // not a number
    ['tier=a,kubeprism.dev/source=file', true],
    ['tier=a, kubeprism.dev/source=api', false], // comma is AND
    ['tier in (a,b),!missing,weight', true],
    ['tier=', false],
  ])('%j selects: %s', (selector, expected) => {
    expect(select(selector)).toBe(expected);
  });

  it('matches an empty value only to an empty label', () => {
    expect(select('tier=', { tier: '' })).toBe(true);
  });

  it.each([
    ['a in (b', /unclosed "\("/],
    ['a)', /unbalanced "\)"/],
    ['a,,b', /empty requirement/],
    ['a,', /empty requirement/],
    ['a in ()', /needs at least one value/],
    ['a>x', /needs an integer/],
    ['Bad_Prefix/x=1', /prefix must be a DNS subdomain/],
    ['-a=1', /the name must be/],
    ['a=b c', /value "b c"/],
    ['a b', /cannot read "a b"/],
    [`a=${'x'.repeat(64)}`, /at most 63/],
  ])('rejects %j as a usage error', (selector, message) => {
    let err: unknown;
    try {
      parseSelector(selector);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(`invalid label selector "${selector}"`);
  });
});
