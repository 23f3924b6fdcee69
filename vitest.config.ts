import { defineConfig } from 'vitest/config';

// Tests run for real against the kernel (FUSE, keyring, loop devices, PAM), so
// files run in separate processes and a test may take seconds.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 180_000, // generous: a loaded 2-core machine triples the slow end-to-end tests
    hookTimeout: 120_000,
    reporters: ['default'],
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
