import { defineConfig } from 'vitest/config';

// Unit tests sit next to the code (*.test.ts); integration tests under test/ talk to the real
// services, which test/global-setup.ts brings up (and stops afterwards if it started them).
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', '.regflow/**', 'dist/**'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
  },
});
