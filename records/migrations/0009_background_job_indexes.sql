-- Indexes for the jobs every node runs in the background, so that each reads
-- what it has to work on rather than a table that grows with history (on the
-- embedded PGlite, with its one connection, the record writer waits behind
-- them). Runs on PostgreSQL 15 and PGlite.

-- The payout sweep (every minute) retries rewards in transfer_pending and
-- transferred, oldest first; rewards_status left out 'transferred', so the
-- sweep could not use it and read every reward. This one holds every state a
-- reward waits in on its way to the customer, by state and then age (the
-- sweep's order; PayoutStuck's oldest payout_pending).
drop index rewards_status;
create index rewards_in_flight on rewards (status, updated_at)
  where status in ('onboarding', 'transfer_pending', 'transferred', 'payout_pending');

-- The retention job (hourly). Content written after a session's redaction is
-- looked for among recent redactions only (RetentionJob's LATE_CONTENT_WINDOW_MS).
create index sessions_redacted on sessions (redacted_at) where redacted_at is not null;
-- Sessions due for redaction (not redacted yet), and those whose receipt hash
-- a customer's deletion kept until the data retention: both by age.
create index sessions_retention_pending on sessions (created_at)
  where redacted_at is null or receipt_hash is not null;
-- Device and address hashes a customer's deletion kept for the fraud rules'
-- velocity window.
create index sessions_deleted_hashes on sessions (deleted_by_customer_at)
  where deleted_by_customer_at is not null and (device_hash is not null or ip_hash is not null);
