// First start of an empty database: a demo business with its `demo` store, an
// owner login and an admin login, with random passwords printed once in the log.
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { Sql } from "postgres";
import { hashPassword } from "../auth/password.ts";
import { DEFAULT_POLICY } from "../rewards/policy.ts";

export const DEMO_OWNER_EMAIL = "demo@parley.local";
export const DEMO_ADMIN_EMAIL = "admin@parley.local";

export interface DemoLogins {
  businessId: string;
  owner: { email: string; password: string };
  admin: { email: string; password: string };
}

/** Creates the demo data when there is no business yet; undefined when there already was one. */
export async function seedDemo(sql: Sql, logger: Logger): Promise<DemoLogins | undefined> {
  const ownerPassword = randomBytes(9).toString("base64url");
  const adminPassword = randomBytes(9).toString("base64url");
  const [ownerHash, adminHash] = await Promise.all([hashPassword(ownerPassword), hashPassword(adminPassword)]);
  const businessId = await sql.begin(async (tx) => {
    // Two nodes starting on one empty database: the lock makes the second see the first's business.
    await tx`lock table businesses in exclusive mode`;
    const [any] = await tx`select 1 from businesses limit 1`;
    if (any) return undefined;
    const [b] = await tx<{ id: string }[]>`
      insert into businesses (id, name) values (gen_random_uuid(), 'Demo business') returning id`;
    await tx`
      insert into stores (id, business_id, code, name, language, time_zone, reward_policy)
      values (gen_random_uuid(), ${b!.id}, 'demo', 'Demo store', 'en-US', 'Europe/Stockholm', ${tx.json(DEFAULT_POLICY as never)})`;
    await tx`
      insert into users (id, email, password_hash, role, business_id) values
        (gen_random_uuid(), ${DEMO_OWNER_EMAIL}, ${ownerHash}, 'owner', ${b!.id}),
        (gen_random_uuid(), ${DEMO_ADMIN_EMAIL}, ${adminHash}, 'admin', null)`;
    return b!.id;
  });
  if (!businessId) return undefined;
  const logins = {
    businessId,
    owner: { email: DEMO_OWNER_EMAIL, password: ownerPassword },
    admin: { email: DEMO_ADMIN_EMAIL, password: adminPassword },
  };
  // Printed once, on the start that created them: the hashes are all that is kept.
  logger.warn(
    { store: "demo", owner: logins.owner, admin: logins.admin },
    "demo business created: these logins are shown only this once",
  );
  return logins;
}
