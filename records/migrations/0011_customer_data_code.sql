-- A customer opens, exports or deletes their data with the data code alone
-- (POST /api/customer/lookup finds the session by the code's keyed hash;
-- before, the app had to know the session's id, which it never showed).
create index sessions_data_code on sessions (data_code_hash) where data_code_hash is not null;

-- A reward keeps no score: it outlived the retention and a customer's
-- deletion, and nothing read it (final_scores has the score, and goes with them).
alter table rewards drop column score;

-- 'forfeited': its customer deleted their data before claiming it (the data
-- code, the only key to a claim, went with it); it no longer counts against
-- the business's daily budget. Runs on PostgreSQL 15 and PGlite.
alter table rewards drop constraint rewards_status_check;
alter table rewards add constraint rewards_status_check check (
  status in ('none', 'withheld', 'claimable', 'onboarding', 'transfer_pending', 'transferred',
             'payout_pending', 'paid', 'payout_failed', 'reversed', 'forfeited')
);
