import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { InvalidConfigError } from '../../src/config/errors.js';

/** The repository root (two levels above this file). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Hand-written fixtures of this project. */
export const ownFixtures = path.join(repoRoot, 'test', 'fixtures', 'config');

/** Real Talos configs shared between checkouts; read in place, never copied into the project. */
export const talosFixtures = path.resolve(repoRoot, '..', 'shared', 'fixtures', 'talos');

/** Reads one of this project's config fixtures. */
export function fixture(name: string): string {
  return readFileSync(path.join(ownFixtures, name), 'utf8');
}

/** Runs `fn`, asserts it threw an InvalidConfigError, and returns it for closer inspection. */
export function invalid(fn: () => unknown): InvalidConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidConfigError);
    return err as InvalidConfigError;
  }
  throw new Error('expected an InvalidConfigError, but nothing was thrown');
}
