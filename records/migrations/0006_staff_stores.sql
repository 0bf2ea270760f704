-- Staff limited to some stores of their business: login puts those stores'
-- codes in the token's `stores` claim, and every route and the node's wall
-- then show them only those stores. Runs on PostgreSQL 15 and PGlite.

-- Whether a staff member is limited at all is a flag of its own, not "has
-- rows": a staff member whose stores were all deleted (the cascade below) is
-- limited to none, never silently widened to every store of the business.
alter table users
  add column store_limited boolean not null default false,
  add constraint users_store_limited_staff check (not store_limited or role = 'staff');

-- The stores of a limited staff member (owners, admins and unlimited staff have none).
create table user_stores (
  user_id uuid not null references users (id) on delete cascade,
  store_id uuid not null references stores (id) on delete cascade,
  primary key (user_id, store_id)
);
create index user_stores_store on user_stores (store_id);
