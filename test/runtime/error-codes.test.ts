import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, hasCode, isErrorCode, KubeprismError, NotFoundError } from '../../src/runtime/index.js';

const SRC = path.join(import.meta.dirname, '../../src');

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => path.join(e.parentPath, e.name));
}

describe('error codes', () => {
  it('lists every KP_ code that appears anywhere in src/, each with a meaning', async () => {
    const used = new Set<string>();
    for (const file of await sourceFiles(SRC)) {
      for (const match of (await readFile(file, 'utf8')).matchAll(/\bKP_[A-Z_]*[A-Z]\b/g)) used.add(match[0]);
    }
    expect(used.size).toBeGreaterThan(30);
    const unknown = [...used].filter((code) => !isErrorCode(code)).sort();
    expect(unknown).toEqual([]);
    for (const meaning of Object.values(ERROR_CODES)) expect(meaning.length).toBeGreaterThan(10);
  });

  it('keeps the public string values (the API and scripts match on them)', () => {
    for (const [key] of Object.entries(ERROR_CODES)) expect(key).toMatch(/^KP_(ERR_)?[A-Z_]+$/);
    expect(new NotFoundError('x').code).toBe('KP_ERR_NOT_FOUND');
  });

  it('accepts only known codes at compile time', () => {
    const err = new KubeprismError('KP_ERR_CONFLICT', 'lost a race');
    expect(hasCode(err, 'KP_ERR_CONFLICT')).toBe(true);
    expect(hasCode(new Error('plain'), 'KP_ERR_CONFLICT')).toBe(false);
    // @ts-expect-error a misspelt code is a type error, not a silent never-matching comparison
    expect(hasCode(err, 'KP_ERR_CONFLIKT')).toBe(false);
    // @ts-expect-error the same for constructing an error
    expect(new KubeprismError('KP_ERR_NOPE', 'x').code).toBe('KP_ERR_NOPE');
    expect(isErrorCode('KP_ERR_NOPE')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
  });
});
