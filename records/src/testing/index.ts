// Test helpers other packages may import as "@parley/records/testing".
export { serveRoutes } from "../http/node-adapter.ts";
export { createDatabaseAt, freePort, PostgresCluster, type PostgresClusterOptions } from "./postgres.ts";
export { StripeTestDouble } from "./StripeTestDouble.ts";
export type {} from "./vitestContext.ts";
