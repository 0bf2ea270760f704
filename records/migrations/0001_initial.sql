-- Parley's durable records: businesses and their stores, the people who log in,
-- every conversation with its transcript and scores, rewards and payouts, fraud
-- flags and an audit log. Runs on PostgreSQL 15 (production) and on PGlite
-- (embedded default), so only features both have are used.

create table businesses (
  id uuid primary key,
  name text not null,
  -- The reward budget's day starts at midnight in this zone.
  time_zone text not null default 'Europe/Stockholm',
  currency text not null default 'SEK' check (currency ~ '^[A-Z]{3}$'),
  daily_budget_minor bigint not null default 100000 check (daily_budget_minor >= 0),
  created_at timestamptz not null default now()
);

create table stores (
  id uuid primary key,
  business_id uuid not null references businesses (id),
  code text not null unique check (code ~ '^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$'),
  name text not null,
  language text not null default 'sv-SE',
  time_zone text not null default 'Europe/Stockholm',
  -- { minQuality, tiers: [{ minScore, amountMinor }], capMinor } in the business's currency.
  reward_policy jsonb not null,
  created_at timestamptz not null default now()
);
create index stores_business on stores (business_id);

create table users (
  id uuid primary key,
  email text not null unique check (email = lower(email)),
  password_hash text not null,
  role text not null check (role in ('owner', 'staff', 'admin')),
  business_id uuid references businesses (id),
  created_at timestamptz not null default now(),
  -- Admins belong to no business; owners and staff to exactly one.
  check ((role = 'admin') = (business_id is null))
);

create table sessions (
  id uuid primary key,
  store_id uuid not null references stores (id),
  business_id uuid not null references businesses (id),
  status text not null default 'open' check (status in ('open', 'ended')),
  consent_given_at timestamptz,
  consent_version text,
  started_at timestamptz,
  ended_at timestamptz,
  end_reason text,
  language text,
  node_id text,
  -- Keyed hashes, never the raw device id or IP address.
  device_hash text,
  ip_hash text,
  -- The purchase or receipt the customer gives feedback on (from the store's QR code).
  receipt_ref text,
  -- Keyed hash (HMAC) of the code the customer was given to see or delete their data.
  data_code_hash text,
  created_at timestamptz not null default now(),
  -- When the retention job or the customer removed the personal data.
  redacted_at timestamptz,
  deleted_by_customer_at timestamptz
);
create index sessions_business_created on sessions (business_id, created_at);
create index sessions_store_created on sessions (store_id, created_at);
create index sessions_device on sessions (device_hash, created_at) where device_hash is not null;
create index sessions_ip on sessions (ip_hash, created_at) where ip_hash is not null;
create index sessions_receipt on sessions (business_id, receipt_ref) where receipt_ref is not null;

-- Final transcript segments with word timings. `seq` is the envelope's per-session
-- sequence number: a replayed or reordered write never overwrites a newer one.
create table transcript_segments (
  session_id uuid not null references sessions (id) on delete cascade,
  segment_id integer not null,
  seq bigint not null,
  text text not null,
  words jsonb not null,
  start_ms integer not null,
  end_ms integer not null,
  speech_final boolean not null,
  recorded_at timestamptz not null default now(),
  primary key (session_id, segment_id)
);

-- The score as it moved during the conversation.
create table score_updates (
  session_id uuid not null references sessions (id) on delete cascade,
  seq bigint not null,
  score smallint not null check (score between 0 and 100),
  specificity real not null,
  actionability real not null,
  sentiment real not null,
  relevance real not null,
  topics text[] not null,
  hint text not null,
  engine text not null,
  through_segment_id integer not null,
  scored_at timestamptz not null,
  primary key (session_id, seq)
);

create table final_scores (
  session_id uuid primary key references sessions (id) on delete cascade,
  score smallint not null check (score between 0 and 100),
  specificity real not null,
  actionability real not null,
  sentiment real not null,
  relevance real not null,
  topics text[] not null,
  summary text not null,
  engine text not null,
  created_at timestamptz not null default now()
);

create table ai_questions (
  session_id uuid not null references sessions (id) on delete cascade,
  turn integer not null,
  text text not null,
  aimed_at text not null,
  asked_at timestamptz not null,
  primary key (session_id, turn)
);

-- One reward decision per session. Money rows outlive the transcript (bookkeeping),
-- but hold nothing the customer said.
create table rewards (
  id uuid primary key,
  session_id uuid not null unique references sessions (id),
  business_id uuid not null references businesses (id),
  store_id uuid not null references stores (id),
  amount_minor bigint not null check (amount_minor >= 0),
  currency text not null,
  score smallint not null,
  status text not null check (
    status in ('none', 'withheld', 'claimable', 'onboarding', 'transfer_pending', 'transferred',
               'payout_pending', 'paid', 'payout_failed', 'reversed')
  ),
  reason text not null,
  stripe_account_id text,
  transfer_id text,
  payout_id text,
  -- Part of the idempotency keys (reward:<id>:transfer:<n>): raised only after Stripe answered
  -- with a definite error, since Stripe replays a key's stored error forever.
  transfer_attempt integer not null default 0,
  payout_attempt integer not null default 0,
  last_error text,
  created_at timestamptz not null,
  updated_at timestamptz not null default now()
);
create index rewards_business_created on rewards (business_id, created_at);
create index rewards_status on rewards (status) where status in ('onboarding', 'transfer_pending', 'payout_pending');
create index rewards_account on rewards (stripe_account_id) where stripe_account_id is not null;

create table payouts (
  id text primary key,
  reward_id uuid not null references rewards (id),
  stripe_account_id text not null,
  amount_minor bigint not null,
  currency text not null,
  status text not null,
  failure_code text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Stripe webhook deliveries already applied: the unique id is written in the same
-- transaction as the state change, so a redelivery changes nothing.
create table stripe_events (
  id text primary key,
  type text not null,
  received_at timestamptz not null default now()
);

create table fraud_flags (
  session_id uuid not null references sessions (id) on delete cascade,
  rule text not null,
  -- 'fraud' counts toward feedback_sessions_total{status="fraud_detected"}; 'quality' only withholds the reward.
  severity text not null check (severity in ('fraud', 'quality')),
  detail jsonb not null,
  created_at timestamptz not null default now(),
  primary key (session_id, rule)
);

-- Voice-derived data (the spectral fingerprint of the audio): deleted after
-- VOICE_DATA_RETENTION_HOURS.
create table audio_fingerprints (
  session_id uuid primary key references sessions (id) on delete cascade,
  business_id uuid not null,
  frames integer not null,
  data bytea not null,
  created_at timestamptz not null
);
create index audio_fingerprints_business on audio_fingerprints (business_id, created_at);

-- MinHash of the final transcript, for near-duplicate detection across sessions.
create table transcript_signatures (
  session_id uuid primary key references sessions (id) on delete cascade,
  business_id uuid not null,
  minhash bytea not null,
  created_at timestamptz not null
);
create index transcript_signatures_business on transcript_signatures (business_id, created_at);

create table audit_log (
  id bigserial primary key,
  at timestamptz not null default now(),
  actor_user_id uuid,
  actor text not null, -- 'owner', 'staff', 'admin', 'customer', 'system', 'stripe'
  business_id uuid,
  action text not null,
  target text not null,
  detail jsonb not null default '{}'
);
create index audit_log_business on audit_log (business_id, at);

-- Envelopes that Postgres refused for a reason a retry cannot fix (not for a lost
-- connection): kept whole, so nothing is dropped silently.
create table dead_letters (
  id bigserial primary key,
  at timestamptz not null default now(),
  session_id text not null,
  kind text not null,
  error text not null,
  payload bytea not null
);

-- Secrets this deployment generates for itself on first start (the key of the
-- device/IP and data-code hashes), shared by every node through the database.
create table instance_secrets (
  name text primary key,
  value bytea not null,
  created_at timestamptz not null default now()
);
