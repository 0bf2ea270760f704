-- A keyed hash of the session's receipt (records' hash key), kept when the
-- customer deletes their data: the receipt itself goes, but the same purchase
-- cannot earn a second reward by deleting the first conversation. The data
-- retention removes it with the rest. Sessions from before this migration have
-- no hash; the duplicate-receipt rule still compares their receipt_ref.
alter table sessions add column receipt_hash text;
create index sessions_business_receipt_hash on sessions (business_id, receipt_hash) where receipt_hash is not null;
