import { defineConfig } from "vitest/config";

// One runner for the whole workspace: each package's tests live in its test/
// folder, named by what they need:
//   *.test.ts          unit: plain logic, local programs at most (flite, sox)
//   *.int.test.ts      real services: mediasoup workers, the Python speech worker, Postgres, Redis
//   *.browser.test.ts  Debian's Chromium against a real node
// `pnpm test:unit` runs the first kind only; `pnpm test` runs all three.
const timeouts = { testTimeout: 30_000, hookTimeout: 60_000 };
// Integration and browser tests run real audio paths and must not compete
// with each other for 2 cores: one file at a time, after the unit tests and
// records' own, the integration tests first (projects in one group would run
// side by side).
const oneAtATime = (groupOrder: number) => ({ sequence: { groupOrder }, maxWorkers: 1 });
// One real PostgreSQL cluster per run for the nodes these tests start.
const postgres = "./signaling/test/postgres.global.ts";

export default defineConfig({
  test: {
    pool: "forks",
    // A poll waits for what real processes do, which a busy machine may delay by seconds
    // (vitest's default gives up after 1 s).
    expect: { poll: { timeout: 10_000 } },
    projects: [
      {
        extends: true,
        test: {
          ...timeouts,
          name: "unit",
          // Plain logic: two files at a time, first, before anything real starts.
          sequence: { groupOrder: 0 },
          maxWorkers: 2,
          include: ["*/test/**/*.test.ts"],
          exclude: ["**/*.int.test.ts", "**/*.browser.test.ts", "**/node_modules/**"],
        },
      },
      {
        extends: true,
        test: {
          ...timeouts,
          // Records against real PostgreSQL clusters of their own: no audio, nothing real-time,
          // so two files at a time, before the audio paths start.
          name: "records",
          sequence: { groupOrder: 1 },
          maxWorkers: 2,
          include: ["records/test/**/*.int.test.ts"],
        },
      },
      {
        extends: true,
        test: {
          ...timeouts,
          ...oneAtATime(2),
          name: "integration",
          include: ["*/test/**/*.int.test.ts"],
          exclude: ["records/test/**", "**/node_modules/**"],
          globalSetup: [postgres],
        },
      },
      {
        extends: true,
        test: {
          ...timeouts,
          ...oneAtATime(3),
          name: "browser",
          include: ["*/test/**/*.browser.test.ts"],
          globalSetup: [postgres],
        },
      },
    ],
  },
});
