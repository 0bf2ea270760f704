import { defineConfig } from "vitest/config";

// One runner for the whole workspace: each package's tests live in its test/ folder.
export default defineConfig({
  test: {
    include: ["*/test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    fileParallelism: false,
  },
});
