import { defineConfig } from 'vitest/config';

/**
 * Unit tests are pure and fast; integration tests use real sockets, real TLS and real
 * kubectl binaries, so they get generous per-test timeouts. Benchmarks are not tests
 * (test/bench/ prints numbers) and are never collected here.
 */
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'],
    exclude: ['test/bench/**', 'node_modules/**', 'dist/**'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 20_000,
    reporters: ['default'],
  },
});
