import { defineConfig } from 'vitest/config';

// Tests run for real against the kernel (FUSE, keyring, loop devices, PAM), so
// files run in separate processes and a test may take seconds.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
