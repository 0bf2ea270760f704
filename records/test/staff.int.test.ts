// Owners managing their staff, and staff limited to some stores by what the
// database says: the owner creates a staff member (perhaps limited to some
// stores of the business), changes the limit or removes them; the login puts
// the limit in the token's `stores` claim, and every route honours it. A
// staff member whose stores were all deleted sees none, never every store.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Records, verifyUserToken } from "../src/index.ts";
import { type PostgresCluster, serveRoutes } from "../src/testing/index.ts";
import { Conversation, openRecords, SECRET, startCluster, uniqueFeedback } from "./helpers.ts";

const PASSWORD = "correct horse battery";

let pg: PostgresCluster;
let databaseUrl: string;
let records: Records;
let http: { url: string; close(): Promise<void> };
const ids = { a: "", b: "", sessionDemo: "", sessionSecond: "", sessionOther: "", ownerA: "" };
const tokens = { ownerA: "", ownerB: "", admin: "" };
let emailSeq = 0;

beforeAll(async () => {
  pg = await startCluster();
  databaseUrl = await pg.createDatabase();
  records = await openRecords(databaseUrl, { loginRateLimit: { max: 1000, windowMs: 60_000 } });
  http = await serveRoutes(records.routes);
  ids.a = records.demo!.businessId;
  const [b] = await records.sql<
    { id: string }[]
  >`insert into businesses (id, name) values (gen_random_uuid(), 'Other business') returning id`;
  ids.b = b!.id;
  await records.sql`insert into stores (id, business_id, code, name, reward_policy)
                    select gen_random_uuid(), ${ids.b}, 'other', 'Other store', reward_policy from stores where code = 'demo'`;
  await records.sql`insert into stores (id, business_id, code, name, reward_policy)
                    select gen_random_uuid(), ${ids.a}, 'second', 'Second store', reward_policy from stores where code = 'demo'`;
  for (const [store, key] of [
    ["demo", "sessionDemo"],
    ["second", "sessionSecond"],
    ["other", "sessionOther"],
  ] as const) {
    const c = new Conversation(store);
    await records.beginSession({
      sessionId: c.sessionId,
      storeCode: store,
      consent: { given: true, version: "v1" },
      deviceId: randomUUID(),
    });
    records.write(c.started());
    for (const [i, line] of uniqueFeedback(key.length * 31).entries()) records.write(c.segment(i + 1, line));
    records.write(c.ended(66));
    ids[key] = c.sessionId;
  }
  await records.flush();
  tokens.ownerA = await login(records.demo!.owner.email, records.demo!.owner.password);
  tokens.admin = await login(records.demo!.admin.email, records.demo!.admin.password);
  ids.ownerA = verifyUserToken(SECRET, tokens.ownerA, Date.now())!.sub;
  const [ownerB] = await records.sql<{ email: string }[]>`
    insert into users (id, email, password_hash, role, business_id)
    select gen_random_uuid(), 'owner@b.test', password_hash, 'owner', ${ids.b} from users where id = ${ids.ownerA}
    returning email`;
  // Owner B shares the demo owner's password hash: the same password logs in.
  tokens.ownerB = await login(ownerB!.email, records.demo!.owner.password);
});
afterAll(async () => {
  await http?.close();
  await records?.close();
  await pg?.destroy();
});

async function call(token: string | undefined, method: string, path: string, body?: unknown) {
  const res = await fetch(http.url + path, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, text: await res.text() };
}

async function login(email: string, password = PASSWORD): Promise<string> {
  const res = await call(undefined, "POST", "/api/auth/login", { email, password });
  expect(res.status, res.text).toBe(200);
  return (JSON.parse(res.text) as { token: string }).token;
}

/** The `stores` claim of a token the login issued (checked by the one verifier: it survives the round trip). */
const storesClaim = (token: string) => verifyUserToken(SECRET, token, Date.now())!.stores;
/** What every node's dashboard check asks (signaling's SignedUserTokens): was this login withdrawn since? */
const withdrawnOn = (node: Records, token: string) =>
  node.revocations.revoked(verifyUserToken(SECRET, token, Date.now())!);

const usersPath = (businessId = ids.a) => `/api/businesses/${businessId}/users`;
const storesPath = (userId: string, businessId = ids.a) => `${usersPath(businessId)}/${userId}/stores`;
const newEmail = () => `staff-${++emailSeq}@a.test`;

interface StaffReply {
  id: string;
  email: string;
  role: string;
  stores: string[] | null;
}

/** Creates a staff member of business A as its owner; their id and e-mail. */
async function createStaff(stores?: string[] | null): Promise<StaffReply> {
  const res = await call(tokens.ownerA, "POST", usersPath(), {
    email: newEmail(),
    password: PASSWORD,
    ...(stores === undefined ? {} : { stores }),
  });
  expect(res.status, res.text).toBe(201);
  return JSON.parse(res.text) as StaffReply;
}

async function listUsers(token = tokens.ownerA): Promise<StaffReply[]> {
  const res = await call(token, "GET", usersPath());
  expect(res.status, res.text).toBe(200);
  return (JSON.parse(res.text) as { users: StaffReply[] }).users;
}

/** What a token sees of business A: its stores, the sessions it may open, and its CSV export. */
async function seenBy(token: string) {
  const stores = await call(token, "GET", `/api/businesses/${ids.a}/stores`);
  const csv = await call(token, "GET", `/api/businesses/${ids.a}/feedback.csv`);
  const status = async (path: string) => (await call(token, "GET", path)).status;
  return {
    stores: (JSON.parse(stores.text) as { stores: { code: string }[] }).stores.map((s) => s.code),
    demoSessions: await status("/api/stores/demo/sessions"),
    secondSessions: await status("/api/stores/second/sessions"),
    demoFeedback: await status(`/api/feedback/${ids.sessionDemo}`),
    secondFeedback: await status(`/api/feedback/${ids.sessionSecond}`),
    csvHasDemo: csv.text.includes(ids.sessionDemo),
    csvHasSecond: csv.text.includes(ids.sessionSecond),
  };
}

const EVERYTHING = {
  stores: ["demo", "second"],
  demoSessions: 200,
  secondSessions: 200,
  demoFeedback: 200,
  secondFeedback: 200,
  csvHasDemo: true,
  csvHasSecond: true,
};
const DEMO_ONLY = { ...EVERYTHING, stores: ["demo"], secondSessions: 404, secondFeedback: 404, csvHasSecond: false };
const SECOND_ONLY = { ...EVERYTHING, stores: ["second"], demoSessions: 404, demoFeedback: 404, csvHasDemo: false };
const NOTHING = {
  stores: [],
  demoSessions: 404,
  secondSessions: 404,
  demoFeedback: 404,
  secondFeedback: 404,
  csvHasDemo: false,
  csvHasSecond: false,
};

describe("staff limited to some stores", () => {
  it("logs in with those stores in the token and sees only them", async () => {
    const staff = await createStaff(["demo"]);
    expect(staff).toMatchObject({ role: "staff", stores: ["demo"] });
    const token = await login(staff.email);
    expect(storesClaim(token)).toEqual(["demo"]);
    expect(await seenBy(token)).toEqual(DEMO_ONLY);
    // The second store's session answers as another business's does.
    const otherStore = await call(token, "GET", `/api/feedback/${ids.sessionSecond}`);
    expect(otherStore).toEqual(await call(token, "GET", `/api/feedback/${ids.sessionOther}`));
  });

  it("gives unlimited staff, owners and admins no claim: they see every store", async () => {
    for (const stores of [undefined, null]) {
      const staff = await createStaff(stores);
      expect(staff.stores).toBeNull();
      const token = await login(staff.email);
      expect(storesClaim(token)).toBeUndefined();
      expect(await seenBy(token)).toEqual(EVERYTHING);
    }
    for (const token of [tokens.ownerA, tokens.admin]) expect(storesClaim(token)).toBeUndefined();
  });

  it("limits a staff member whose stores were all deleted to none, not to every store", async () => {
    const created = await call(tokens.ownerA, "POST", `/api/businesses/${ids.a}/stores`, {
      code: "closing",
      name: "Closing store",
    });
    expect(created.status).toBe(201);
    const staff = await createStaff(["closing"]);
    await records.sql`delete from stores where code = 'closing'`;
    const token = await login(staff.email);
    expect(storesClaim(token)).toEqual([]);
    expect(await seenBy(token)).toEqual(NOTHING);
    expect((await listUsers()).find((u) => u.id === staff.id)?.stores).toEqual([]);
  });

  it("keeps the limit to staff: the database refuses it on an owner", async () => {
    await expect(records.sql`update users set store_limited = true where id = ${ids.ownerA}`).rejects.toThrow(
      /users_store_limited_staff/,
    );
  });
});

describe("owners managing staff", () => {
  it("creates, lists, limits and removes a staff member, each change audited", async () => {
    const staff = await createStaff(["demo", "demo"]);
    expect(staff.stores).toEqual(["demo"]);
    const listed = await listUsers();
    expect(listed.find((u) => u.id === staff.id)).toEqual({ ...staff, createdAt: expect.any(String) });
    expect(listed.find((u) => u.id === ids.ownerA)).toMatchObject({ role: "owner", stores: null });
    const listText = (await call(tokens.ownerA, "GET", usersPath())).text;
    expect(listText).not.toContain("scrypt");
    expect(listText).not.toMatch(/password/i);

    const before = await login(staff.email);
    const set = await call(tokens.ownerA, "PUT", storesPath(staff.id), { stores: ["second"] });
    expect(set.status, set.text).toBe(200);
    expect(JSON.parse(set.text)).toEqual({ id: staff.id, stores: ["second"] });
    // The token held carries the old list: it is withdrawn, and the next login carries the new one.
    expect(storesClaim(before)).toEqual(["demo"]);
    expect((await call(before, "GET", `/api/businesses/${ids.a}/stores`)).status).toBe(401);
    expect(storesClaim(await login(staff.email))).toEqual(["second"]);

    expect((await call(tokens.ownerA, "PUT", storesPath(staff.id), { stores: [] })).status).toBe(200);
    const none = await login(staff.email);
    expect(storesClaim(none)).toEqual([]);
    expect(await seenBy(none)).toEqual(NOTHING);

    expect((await call(tokens.ownerA, "PUT", storesPath(staff.id), { stores: null })).status).toBe(200);
    expect(storesClaim(await login(staff.email))).toBeUndefined();

    const removed = await call(tokens.ownerA, "DELETE", `${usersPath()}/${staff.id}`);
    expect(removed.status, removed.text).toBe(200);
    expect((await listUsers()).map((u) => u.id)).not.toContain(staff.id);
    expect((await call(undefined, "POST", "/api/auth/login", { email: staff.email, password: PASSWORD })).status).toBe(
      401,
    );
    expect((await call(tokens.ownerA, "DELETE", `${usersPath()}/${staff.id}`)).status).toBe(404);
    expect((await call(tokens.ownerA, "PUT", storesPath(staff.id), { stores: null })).status).toBe(404);

    const audit = await call(tokens.ownerA, "GET", `/api/businesses/${ids.a}/audit`);
    const actions = (JSON.parse(audit.text) as { entries: { action: string; target: string }[] }).entries
      .filter((e) => e.target === `user:${staff.id}` && e.action !== "login")
      .map((e) => e.action)
      .reverse();
    expect(actions).toEqual([
      "staff.create",
      "staff_stores.set",
      "staff_stores.set",
      "staff_stores.set",
      "staff.delete",
    ]);
  });

  it("lets admins manage any business's staff", async () => {
    const res = await call(tokens.admin, "POST", usersPath(), {
      email: newEmail(),
      password: PASSWORD,
      stores: ["second"],
    });
    expect(res.status, res.text).toBe(201);
    const staff = JSON.parse(res.text) as StaffReply;
    expect((await listUsers(tokens.admin)).map((u) => u.id)).toContain(staff.id);
    expect(storesClaim(await login(staff.email))).toEqual(["second"]);
  });

  it("validates the new staff member and answers a taken e-mail with 409", async () => {
    const create = (body: Record<string, unknown>) =>
      call(tokens.ownerA, "POST", usersPath(), { email: newEmail(), password: PASSWORD, ...body });
    for (const email of ["", "no-at-sign", "two@@a.test", "no@dot", "sp ace@a.test", `${"a".repeat(245)}@a.test.se`, 7])
      expect((await create({ email })).status, String(email)).toBe(400);
    for (const password of [undefined, "", "eleven char", 123456789012, "x".repeat(1025)])
      expect((await create({ password })).status, String(password)).toBe(400);
    for (const stores of ["demo", { 0: "demo" }, [7], ["de mo"], ["x"], ["demo", null]])
      expect((await create({ stores })).status, JSON.stringify(stores)).toBe(400);
    expect((await create({ password: "twelve chars" })).status).toBe(201);
    // E-mails are one namespace: the demo owner's and another business's are taken, in any case.
    expect((await create({ email: " Demo@Parley.local " })).status).toBe(409);
    expect((await create({ email: "owner@b.test" })).status).toBe(409);
    const staff = await createStaff();
    expect((await call(tokens.ownerA, "PUT", storesPath(staff.id), {})).status).toBe(400);
    expect((await call(tokens.ownerA, "PUT", storesPath(staff.id), { stores: "demo" })).status).toBe(400);
  });

  it("refuses another business's store codes as it refuses unknown ones, and changes nothing", async () => {
    const email = newEmail();
    const create = (stores: string[]) =>
      call(tokens.ownerA, "POST", usersPath(), { email, password: PASSWORD, stores });
    const other = await create(["demo", "other"]);
    const unknown = await create(["demo", "nosuch"]);
    expect(other.status).toBe(400);
    expect(other.text.replace("other", "CODE")).toEqual(unknown.text.replace("nosuch", "CODE"));
    // Nothing was created: the same e-mail is still free.
    expect((await create(["demo"])).status).toBe(201);

    const staff = await createStaff(["demo"]);
    const set = await call(tokens.ownerA, "PUT", storesPath(staff.id), { stores: ["other"] });
    expect(set.status).toBe(400);
    expect(set.text).not.toContain(ids.b);
    expect(storesClaim(await login(staff.email))).toEqual(["demo"]);
  });
});

describe("who may manage staff", () => {
  it("refuses staff, limited or not, as it refuses every staff write: 403", async () => {
    const target = await createStaff(["demo"]);
    for (const stores of [undefined, ["demo"]]) {
      const token = await login((await createStaff(stores)).email);
      expect((await call(token, "GET", usersPath())).status).toBe(403);
      expect((await call(token, "POST", usersPath(), { email: newEmail(), password: PASSWORD })).status).toBe(403);
      expect((await call(token, "PUT", storesPath(target.id), { stores: null })).status).toBe(403);
      expect((await call(token, "DELETE", `${usersPath()}/${target.id}`)).status).toBe(403);
    }
    expect(storesClaim(await login(target.email))).toEqual(["demo"]);
  });

  it("answers another business's owner 404, through either business's path", async () => {
    const staff = await createStaff(["demo"]);
    const notFound = await call(tokens.ownerB, "GET", usersPath());
    expect(notFound.status).toBe(404);
    expect((await call(tokens.ownerB, "POST", usersPath(), { email: newEmail(), password: PASSWORD })).status).toBe(
      404,
    );
    for (const businessId of [ids.a, ids.b]) {
      expect(await call(tokens.ownerB, "PUT", storesPath(staff.id, businessId), { stores: null })).toEqual(notFound);
      expect(await call(tokens.ownerB, "DELETE", `${usersPath(businessId)}/${staff.id}`)).toEqual(notFound);
    }
    // Owner B's own list has none of business A's users.
    const listB = (await call(tokens.ownerB, "GET", usersPath(ids.b))).text;
    expect(listB).not.toContain(staff.id);
    expect(listB).not.toContain(ids.ownerA);
    expect(storesClaim(await login(staff.email))).toEqual(["demo"]);
  });

  it("manages staff only: what changes a staff member answers 404 on an owner", async () => {
    const staff = await createStaff();
    expect((await call(tokens.ownerA, "PUT", storesPath(staff.id), { stores: ["demo"] })).status).toBe(200);
    expect((await call(tokens.ownerA, "PUT", storesPath(ids.ownerA), { stores: ["demo"] })).status).toBe(404);
    expect((await call(tokens.ownerA, "DELETE", `${usersPath()}/${ids.ownerA}`)).status).toBe(404);
    expect((await call(tokens.ownerA, "DELETE", `${usersPath()}/not-a-uuid`)).status).toBe(404);
    expect((await call(tokens.ownerA, "DELETE", `${usersPath()}/${staff.id}`)).status).toBe(200);
    expect(storesClaim(await login(records.demo!.owner.email, records.demo!.owner.password))).toBeUndefined();
  });
});

describe("logins withdrawn by a change", () => {
  const storesOfA = (token: string) => call(token, "GET", `/api/businesses/${ids.a}/stores`);

  it("refuses a removed or re-limited staff member's tokens everywhere at once, and no one else's", async () => {
    const limited = await createStaff(["demo"]);
    const unlimited = await createStaff();
    const limitedTokens = [await login(limited.email), await login(limited.email)];
    const unlimitedToken = await login(unlimited.email);
    // Another node of the same deployment, which read these logins before the change.
    const otherNode = await openRecords(databaseUrl);
    try {
      for (const t of [...limitedTokens, unlimitedToken]) expect((await storesOfA(t)).status).toBe(200);
      expect(await withdrawnOn(otherNode, limitedTokens[0]!)).toBe(false);
      expect(await withdrawnOn(otherNode, unlimitedToken)).toBe(false);

      expect((await call(tokens.ownerA, "PUT", storesPath(limited.id), { stores: ["second"] })).status).toBe(200);
      for (const t of limitedTokens) {
        const refused = await storesOfA(t);
        expect(refused.status).toBe(401);
        expect(refused.text).toMatch(/access changed: log in again/);
      }
      // The other node may answer from its last second's reading, then refuses too.
      await expect.poll(() => withdrawnOn(otherNode, limitedTokens[0]!)).toBe(true);
      // A login after the change passes, with the new stores.
      const relogged = await login(limited.email);
      expect(storesClaim(relogged)).toEqual(["second"]);
      expect(await seenBy(relogged)).toEqual(SECOND_ONLY);
      expect(await withdrawnOn(otherNode, relogged)).toBe(false);
      // Nobody else was signed out.
      expect((await storesOfA(unlimitedToken)).status).toBe(200);
      expect((await storesOfA(tokens.ownerA)).status).toBe(200);

      expect((await call(tokens.ownerA, "DELETE", `${usersPath()}/${unlimited.id}`)).status).toBe(200);
      expect((await storesOfA(unlimitedToken)).status).toBe(401);
      await expect.poll(() => withdrawnOn(otherNode, unlimitedToken)).toBe(true);
      expect((await storesOfA(relogged)).status).toBe(200);
    } finally {
      await otherNode.close();
    }
  });

  it("answers 503 with a retry hint, not 401 nor 500, while the database that holds withdrawals is down", async () => {
    const staff = await createStaff();
    const token = await login(staff.email);
    await pg.stop();
    try {
      // Past the second a node trusts what it last read.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const res = await fetch(`${http.url}/api/businesses/${ids.a}/stores`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status, await res.text()).toBe(503);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      // The dashboards' check (signaling's SignedUserTokens) cannot tell either: it refuses.
      await expect(withdrawnOn(records, token)).rejects.toThrow();
    } finally {
      await pg.start();
    }
    await expect.poll(async () => (await storesOfA(token)).status, { timeout: 20_000 }).toBe(200);
  }, 60_000);
});
