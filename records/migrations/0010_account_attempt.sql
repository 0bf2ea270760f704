-- Part of the idempotency key of a reward's connected account
-- (reward:<id>:account, then reward:<id>:account:<n>), like transfer_attempt:
-- Stripe replays a refused accounts.create under its key for 24 h, even once
-- the cause is fixed, so a claim after a refusal needs the next key. Raised
-- only after Stripe answered with a definite error. Runs on PostgreSQL 15 and
-- PGlite.
alter table rewards add column account_attempt integer not null default 0;
