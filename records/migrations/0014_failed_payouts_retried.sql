-- A failed payout is paid out again: payout.failed now moves its reward back to
-- 'transferred' under the next payout key (payout_attempt: the failed payout's
-- key would replay it), and account.updated, the customer's claim or the sweep
-- pays it once the customer's account can take payouts. Rewards older code left
-- in 'payout_failed' (final then, their money on the customer's account) join
-- them; the check constraint keeps the state, which nothing enters now. Runs on
-- PostgreSQL 15 and PGlite.
update rewards set status = 'transferred', payout_attempt = payout_attempt + 1, updated_at = now()
where status = 'payout_failed';
