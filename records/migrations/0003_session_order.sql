-- The order in which sessions began, for "an earlier session" (the duplicate
-- receipt rule): created_at is the transaction's time, so sessions written in
-- one batch tie on it. A sequence numbers them in the order they were queued.
alter table sessions add column begun_order bigserial;
create index sessions_business_receipt on sessions (business_id, receipt_ref) where receipt_ref is not null;
