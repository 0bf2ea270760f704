-- The business wall: moderation of finished feedback for public screens, and
-- the indexes its history reads (recent feedback, today's tiles, trends over
-- 30 days) need. Runs on PostgreSQL 15 and PGlite.

-- One decision per feedback: approved (may be shown on a public screen) or
-- hidden; a decision set back to pending keeps its row. `automatic`: approved by
-- the business's threshold, not by a person (decided_by is then null).
create table moderation_decisions (
  session_id uuid primary key references sessions (id) on delete cascade,
  business_id uuid not null references businesses (id),
  status text not null check (status in ('pending', 'approved', 'hidden')),
  automatic boolean not null default false,
  decided_by uuid,
  decided_at timestamptz not null default now()
);
create index moderation_decisions_approved on moderation_decisions (business_id, decided_at)
  where status = 'approved';

-- A business's moderation settings: the final score from which feedback is
-- approved automatically (0: never), and phrases replaced by a block wherever
-- feedback is shown publicly (names of staff, for example).
create table moderation_settings (
  business_id uuid primary key references businesses (id),
  auto_approve_above smallint not null default 0 check (auto_approve_above between 0 and 100),
  redacted_phrases text[] not null default '{}',
  updated_at timestamptz not null default now()
);

-- The wall's history: finished conversations by when they ended, per business
-- (owners and staff) and across businesses (admins); fraud flags of today.
create index sessions_business_ended on sessions (business_id, ended_at) where status = 'ended';
create index sessions_ended on sessions (ended_at) where status = 'ended';
create index fraud_flags_created on fraud_flags (created_at);
