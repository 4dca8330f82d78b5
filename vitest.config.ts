import { configDefaults, defineConfig } from "vitest/config";

// Two sets of test files: the suite (`npm test`, what CI runs) and the long runs (`*.long.test.ts`:
// sizes beyond what any property needs, e.g. the 10,000-secret walk), which only
// `npm run test:long` (SECRETS_SERVICE_TESTS=long) runs.
const LONG = "test/**/*.long.test.ts";
const long = process.env.SECRETS_SERVICE_TESTS === "long";

export default defineConfig({
  test: {
    include: long ? [LONG] : ["test/**/*.test.ts"],
    exclude: long ? [...configDefaults.exclude] : [...configDefaults.exclude, LONG],
    // Safety nets against a hung call, never a verdict on speed: generous so that a machine whose
    // cores are busy with other work still passes (the suite is run under `stress-ng --cpu 2`).
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: run files in parallel on two workers; each file uses its own database.
    maxWorkers: 2,
    reporters: ["default"],
  },
});
