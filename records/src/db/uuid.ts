// What a row id looks like (sessions, businesses, stores, users, rewards): a
// value checked against it before it reaches a uuid column is refused with a
// clear error instead of Postgres's invalid-input failure.
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
