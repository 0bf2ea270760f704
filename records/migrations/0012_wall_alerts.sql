-- The business wall's alerts (low score, negative sentiment, topic spike,
-- fraud flagged), kept so that a dashboard that connects after a node
-- restarted still sees the recent ones, and every node shows the same.
-- Every node hears every conversation and raises the same alert: each
-- inserts it, keyed by what it is about (`alert_key`: kind and conversation,
-- or for a topic spike kind, business, topic and window), and the first
-- insert wins (on conflict do nothing). `id` is derived from the key by the
-- nodes, so the alert a node sends its walls live has the id stored here.
-- A conversation's alerts go with its content (a customer's deletion, the
-- retention job's redaction); every alert after DATA_RETENTION_DAYS.
-- Runs on PostgreSQL 15 and PGlite.
create table wall_alerts (
  alert_key text primary key,
  id text not null unique,
  kind text not null check (kind in ('LOW_SCORE', 'NEGATIVE_SENTIMENT', 'TOPIC_SPIKE', 'FRAUD_FLAGGED')),
  business_id uuid not null,
  -- null: business-wide (a topic spike), shown to walls of the whole business only.
  store_code text,
  -- null for a topic spike. No foreign key: an alert may be raised before the
  -- writer's queue has stored its session (or while Postgres was away).
  session_id uuid,
  topic text not null default '',
  score smallint not null default 0,
  sentiment real not null default 0,
  count integer not null default 0,
  live boolean not null default false,
  detail text not null default '',
  raised_at timestamptz not null
);
-- A business's recent alerts (its walls' snapshots), and everyone's (admins, the retention by age).
create index wall_alerts_business_raised on wall_alerts (business_id, raised_at);
create index wall_alerts_raised on wall_alerts (raised_at);
-- A conversation's alerts, deleted with its content.
create index wall_alerts_session on wall_alerts (session_id) where session_id is not null;
