-- Business logins are stateless tokens, valid until they expire (12 h). When an
-- owner removes a staff member or changes which stores they may see, the tokens
-- that member already holds must stop working at once: every check of a token
-- (the REST routes, the node's wall and its periodic re-check) refuses one
-- issued before its user's `not_before`. A removed user's row is gone, so this
-- is a table of its own; its rows matter only for a token's lifetime and are
-- pruned as new ones are written. Runs on PostgreSQL 15 and PGlite.
create table user_token_revocations (
  -- text, not uuid: a token's subject is checked before anything else about it is trusted.
  user_id text primary key,
  not_before timestamptz not null
);
