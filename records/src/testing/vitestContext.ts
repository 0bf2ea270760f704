// What the Vitest global setup of the integration and browser tests
// (signaling/test/postgres.global.ts) provides to every test file.
declare module "vitest" {
  export interface ProvidedContext {
    /** postgres://… of the run's shared PostgreSQL cluster (its "postgres" database). */
    parleyPostgresUrl: string;
  }
}

export {};
