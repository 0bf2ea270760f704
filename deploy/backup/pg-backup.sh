#!/usr/bin/env bash
# One logical backup of Parley's Postgres database, then retention.
#
#   DATABASE_URL=postgresql://... BACKUP_DIR=/backups deploy/backup/pg-backup.sh
#
# Environment:
#   DATABASE_URL           the database to dump (required)
#   BACKUP_DIR             where dumps are kept (default /backups)
#   BACKUP_RETENTION_DAYS  dumps older than this are deleted (default 30, as in the deployment guide)
#   BACKUP_KEEP_MIN        the newest N dumps are never deleted, however old (default 3): when
#                          backups stop working, retention must not delete the last good ones
#
# Writes BACKUP_DIR/parley-<UTC time>.dump (pg_dump's custom format, compressed,
# without owners or grants so it restores into any role) and a .sha256 beside
# it. The dump is checked with pg_restore --list before it gets its final
# name, so a name that exists is a complete, readable dump. Runs from the
# CronJob in deploy/k8s/backup.yaml and from `docker-compose run backup`.
set -euo pipefail

log() { printf '[pg-backup] %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

: "${DATABASE_URL:?DATABASE_URL must name the database to back up}"
BACKUP_DIR=${BACKUP_DIR:-/backups}
BACKUP_RETENTION_DAYS=${BACKUP_RETENTION_DAYS:-30}
BACKUP_KEEP_MIN=${BACKUP_KEEP_MIN:-3}
[[ $BACKUP_RETENTION_DAYS =~ ^[0-9]+$ ]] || die "BACKUP_RETENTION_DAYS must be a whole number of days"
[[ $BACKUP_KEEP_MIN =~ ^[0-9]+$ ]] || die "BACKUP_KEEP_MIN must be a whole number"
command -v pg_dump >/dev/null || die "pg_dump not found (postgresql-client 15 or newer)"

mkdir -p "$BACKUP_DIR"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
final="$BACKUP_DIR/parley-$stamp.dump"
partial="$BACKUP_DIR/.parley-$stamp.dump.partial"
trap 'rm -f "$partial"' EXIT

log "dumping to $final"
started=$(date +%s)
pg_dump --dbname="$DATABASE_URL" --format=custom --compress=9 --no-owner --no-privileges --file="$partial"
# A truncated or corrupt dump fails here, not on the day it is needed.
entries=$(pg_restore --list "$partial" | grep -cv '^;' || true)
[[ $entries -gt 0 ]] || die "the dump lists no entries"
(cd "$BACKUP_DIR" && sha256sum "$(basename "$partial")" | sed "s/\.partial\$//; s/\.parley-/parley-/" >"parley-$stamp.dump.sha256")
mv -f "$partial" "$final"
log "done: $(du -h "$final" | cut -f1), $entries entries, $(($(date +%s) - started)) s"

# Retention: delete dumps older than BACKUP_RETENTION_DAYS, except the newest BACKUP_KEEP_MIN.
mapfile -t dumps < <(find "$BACKUP_DIR" -maxdepth 1 -type f -name 'parley-*.dump' -printf '%f\n' | sort -r)
for ((i = BACKUP_KEEP_MIN; i < ${#dumps[@]}; i++)); do
	old="$BACKUP_DIR/${dumps[i]}"
	if [[ -n $(find "$old" -mtime +"$BACKUP_RETENTION_DAYS") ]]; then
		log "retention: deleting ${dumps[i]}"
		rm -f "$old" "$old.sha256"
	fi
done
