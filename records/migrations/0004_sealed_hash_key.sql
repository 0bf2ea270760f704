-- The hash key may now be stored sealed under ENCRYPTION_KEY, as
-- records_hash_key_sealed, with the plain row removed (records/src/db/hashKey.ts).
-- A release before this one would not see the sealed row and would quietly
-- generate a new plain key: data codes would stop verifying and device and IP
-- hashes would split. This migration makes such a release refuse the database
-- ("migrations this code does not know") instead.
comment on table instance_secrets is
  'records_hash_key (plain), or records_hash_key_sealed (AES-256-GCM under ENCRYPTION_KEY: iv, tag, ciphertext)';
