-- The records sweep (every minute, on every node) ends the sessions no node
-- will end: open ones created before a cutoff, oldest first
-- (rewards/unendedSessions.ts). Without this index it read the whole sessions
-- table each time. Open sessions are few (those live now, and those a dead
-- node left), so the index stays small. Runs on PostgreSQL 15 and PGlite.
create index sessions_open_created on sessions (created_at)
  where status = 'open' and deleted_by_customer_at is null;
