import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: run files in parallel on two workers; each file uses its own database.
    maxWorkers: 2,
    reporters: ["default"],
  },
});
