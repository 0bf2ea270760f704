-- The country a business trades in (ISO 3166-1 alpha-2): its customers'
-- Stripe accounts for rewards are opened there, since Stripe fixes an
-- account's country at creation and pays out only in that country's
-- currencies. Existing businesses were all paid as Swedish.
alter table businesses add column country text not null default 'SE' check (country ~ '^[A-Z]{2}$');
