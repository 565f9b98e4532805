import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    // Loopback only: a test whose code would connect or resolve anywhere else fails (see the file).
    setupFiles: ['test/setup/loopback-only.ts'],
    // Socket tests hold real listeners; a generous per-test bound keeps a wedged test from eating the suite.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default'],
    pool: 'forks',
  },
});
