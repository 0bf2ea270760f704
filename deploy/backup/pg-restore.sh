#!/usr/bin/env bash
# Restore a dump made by pg-backup.sh into a database.
#
#   DATABASE_URL=postgresql://.../parley deploy/backup/pg-restore.sh [--clean] (--latest | FILE)
#
#   --latest   the newest parley-*.dump in BACKUP_DIR (default /backups)
#   FILE       a dump file
#   --clean    drop the objects the dump contains before recreating them; without it the
#              target must hold no tables (a restore never mixes into live data by accident)
#
# The checksum is verified when a .sha256 lies beside the dump. The restore runs
# in one transaction (--single-transaction --exit-on-error): it lands whole or
# not at all. Afterwards the exact row count of every table is printed, to
# compare with the source. Runbook: deploy/README.md#restoring-a-backup.
set -euo pipefail

log() { printf '[pg-restore] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
usage() { die "usage: DATABASE_URL=... $0 [--clean] (--latest | FILE)"; }

: "${DATABASE_URL:?DATABASE_URL must name the database to restore into}"
BACKUP_DIR=${BACKUP_DIR:-/backups}
clean=0
dump=""
while (($#)); do
	case $1 in
	--clean) clean=1 ;;
	--latest)
		dump=$(find "$BACKUP_DIR" -maxdepth 1 -type f -name 'parley-*.dump' -printf '%f\n' | sort -r | head -n1)
		[[ -n $dump ]] || die "no parley-*.dump in $BACKUP_DIR"
		dump="$BACKUP_DIR/$dump"
		;;
	-h | --help) usage ;;
	-*) die "unknown option $1" ;;
	*) dump=$1 ;;
	esac
	shift
done
[[ -n $dump ]] || usage
[[ -f $dump ]] || die "no such dump: $dump"
command -v pg_restore >/dev/null || die "pg_restore not found (postgresql-client 15 or newer)"

if [[ -f $dump.sha256 ]]; then
	(cd "$(dirname "$dump")" && sha256sum --check --quiet "$(basename "$dump").sha256") ||
		die "checksum mismatch: $dump is damaged"
	log "checksum ok"
else
	log "no checksum beside $dump: not verified"
fi
pg_restore --list "$dump" >/dev/null || die "$dump is not a readable pg_dump archive"

tables=$(psql "$DATABASE_URL" --no-psqlrc --tuples-only --no-align --command \
	"select count(*) from pg_tables where schemaname not in ('pg_catalog', 'information_schema')")
if ((tables > 0 && clean == 0)); then
	die "the target database already holds $tables tables: pass --clean to replace them, or restore into an empty database"
fi

args=(--dbname="$DATABASE_URL" --no-owner --no-privileges --single-transaction --exit-on-error)
((clean)) && args+=(--clean --if-exists)
log "restoring $dump"
pg_restore "${args[@]}" "$dump"

log "rows per table after the restore:"
psql "$DATABASE_URL" --no-psqlrc --tuples-only --no-align --field-separator=' ' --quiet >&2 <<'SQL'
select format('select %L, count(*) from %I.%I', schemaname || '.' || tablename, schemaname, tablename)
from pg_tables where schemaname not in ('pg_catalog', 'information_schema') order by 1
\gexec
SQL
log "done"
