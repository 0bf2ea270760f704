// How long the business wall's queries take over a realistic history: a
// throwaway PostgreSQL 15 with BUSINESSES businesses of 3 stores each and
// CONVERSATIONS finished conversations spread over the last 30 days (each
// with 3 final segments, 5 score updates, a final score, a reward; 1 % of
// them flagged), then each query ROUNDS times: p50 and p99 in ms. Prints
// figures, asserts nothing.
//
//   cd records && npx tsx bench/wall-queries.bench.ts      # CONVERSATIONS=20000 BUSINESSES=10 ROUNDS=30
import pino from "pino";
import { Records } from "../src/index.ts";
import { PostgresCluster } from "../src/testing/index.ts";

const CONVERSATIONS = Number(process.env.CONVERSATIONS ?? 20_000);
const BUSINESSES = Number(process.env.BUSINESSES ?? 10);
const ROUNDS = Number(process.env.ROUNDS ?? 30);

const pg = await PostgresCluster.start();
try {
  const records = await Records.create({
    databaseUrl: await pg.createDatabase(),
    dataDir: "/nonexistent",
    nodeId: "bench",
    logger: pino({ level: "warn" }),
    authSecret: "bench-secret-bench-secret-bench-secret",
    seedDemo: true,
    sweepIntervalMs: 0,
    retention: { intervalMs: 0 },
  });
  const sql = records.sql;
  const started = performance.now();
  await sql`
    insert into businesses (id, name) select gen_random_uuid(), 'Business ' || i from generate_series(1, ${BUSINESSES}) i`;
  await sql`
    insert into stores (id, business_id, code, name, reward_policy)
    select gen_random_uuid(), b.id, 'b' || row_number() over () || '-' || s, 'Store ' || s,
           (select reward_policy from stores where code = 'demo')
    from businesses b cross join generate_series(1, 3) s where b.name like 'Business %'`;
  // Conversations spread evenly over 30 days, round-robin over the stores.
  await sql`
    with st as (select id, business_id, row_number() over (order by code) - 1 as n, count(*) over () as total
                from stores where code <> 'demo')
    insert into sessions (id, store_id, business_id, status, consent_given_at, started_at, ended_at, end_reason, language, node_id, created_at)
    select gen_random_uuid(), st.id, st.business_id, 'ended', t - interval '2 minutes', t - interval '2 minutes', t,
           'CUSTOMER', 'sv-SE', 'bench', t - interval '2 minutes'
    from generate_series(1, ${CONVERSATIONS}) i
    join st on st.n = i % st.total
    cross join lateral (select now() - (i::float8 / ${CONVERSATIONS}) * interval '30 days' as t) at`;
  await sql`
    insert into final_scores (session_id, score, specificity, actionability, sentiment, relevance, topics, summary, engine, created_at)
    select id, (abs(hashtext(id::text)) % 100), 0.5, 0.5, ((abs(hashtext(id::text)) % 200) - 100) / 100.0, 0.9,
           case abs(hashtext(id::text)) % 3 when 0 then array['service', 'waiting_time']
             when 1 then array['cleanliness'] else array['price', 'product_quality'] end,
           'summary', 'builtin', ended_at
    from sessions where node_id = 'bench'`;
  await sql`
    insert into transcript_segments (session_id, segment_id, seq, text, words, start_ms, end_ms, speech_final, recorded_at)
    select s.id, g, g, 'the coffee was good but the queue was long and the staff were busy', '[]'::jsonb,
           g * 5000, g * 5000 + 4000, true, s.ended_at
    from sessions s cross join generate_series(1, 3) g where s.node_id = 'bench'`;
  await sql`
    insert into score_updates (session_id, seq, score, specificity, actionability, sentiment, relevance, topics, hint, engine, through_segment_id, scored_at)
    select s.id, 10 + g, 20 + 10 * g, 0.5, 0.5, 0.1, 0.9, array['service'], 'say more', 'builtin', g, s.ended_at - (6 - g) * interval '10 seconds'
    from sessions s cross join generate_series(1, 5) g where s.node_id = 'bench'`;
  await sql`
    insert into rewards (id, session_id, business_id, store_id, amount_minor, currency, status, reason, created_at)
    select gen_random_uuid(), s.id, s.business_id, s.store_id, case when f.score >= 40 then 1000 else 0 end, 'SEK',
           case when f.score < 40 then 'none' when abs(hashtext(s.id::text)) % 3 = 0 then 'paid' else 'claimable' end,
           case when f.score >= 40 then 'tier' else 'below_minimum_quality' end, s.ended_at
    from sessions s join final_scores f on f.session_id = s.id where s.node_id = 'bench'`;
  await sql`
    insert into fraud_flags (session_id, rule, severity, detail, created_at)
    select id, 'duplicate_receipt', 'fraud', '{}'::jsonb, ended_at from sessions
    where node_id = 'bench' and abs(hashtext(id::text)) % 100 = 0`;
  await sql`analyze`;
  const seedMs = performance.now() - started;

  const [one] = await sql<{ business_id: string; id: string }[]>`
    select business_id, id from sessions where node_id = 'bench' order by ended_at desc limit 1`;
  const business = { businessId: one!.business_id, storeCodes: undefined };
  const admin = { businessId: undefined, storeCodes: undefined };
  const [store] = await sql<
    { code: string }[]
  >`select code from stores where business_id = ${one!.business_id} limit 1`;
  const staff = { businessId: one!.business_id, storeCodes: [store!.code] };
  const day = { nowMs: Date.now(), utcOffsetMinutes: 60 };

  const cases: [string, () => Promise<unknown>][] = [
    ["recent 100 (a business)", () => records.wall.page(business, 100)],
    ["recent 100 (a store)", () => records.wall.page(staff, 100)],
    ["recent 100 (admin, all)", () => records.wall.page(admin, 100)],
    ["conversation (drill-down)", () => records.wall.conversation(one!.id)],
    ["tiles (a business)", () => records.wall.tiles(business, day)],
    ["tiles (admin, all)", () => records.wall.tiles(admin, day)],
    ["trends today (a business)", () => records.wall.trends(business, "today", day)],
    ["trends 30 days (a business)", () => records.wall.trends(business, "days30", day)],
    ["trends 30 days (admin, all)", () => records.wall.trends(admin, "days30", day)],
  ];
  const rows: string[] = [];
  for (const [name, run] of cases) {
    await run(); // warm
    const times: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now();
      await run();
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const p = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(1);
    rows.push(`| ${name} | ${p(0.5)} | ${p(0.99)} |`);
  }
  console.log(
    `\n${CONVERSATIONS} conversations over 30 days, ${BUSINESSES} businesses × 3 stores (seeded in ${(seedMs / 1000).toFixed(1)} s), ${ROUNDS} rounds each:\n`,
  );
  console.log("| query | p50 ms | p99 ms |\n| --- | --: | --: |");
  for (const r of rows) console.log(r);
  await records.close();
} finally {
  await pg.destroy();
}
