#!/usr/bin/env bash
# Runs a command against throwaway PostgreSQL and Redis servers on loopback, installed from
# Debian's packages when missing, and removed again when the command ends.
#
#   bash tests/services.sh .venv/bin/pytest -m integration
#
# The command sees DATABASE_URL and CELERY_BROKER_URL pointing at them.
set -euo pipefail

need_install=()
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$pg_bin" ] && [ -x "$pg_bin/postgres" ] || need_install+=(postgresql)
command -v redis-server >/dev/null || need_install+=(redis-server)
if [ ${#need_install[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "services: installing ${need_install[*]} from Debian"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_install[@]}" >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  # Debian starts the packaged services; ours run on their own ports and folders.
fi

work=$(mktemp -d /tmp/sam-annotator-services-XXXXXX)
pg_port=${SERVICES_PG_PORT:-55432}
redis_port=${SERVICES_REDIS_PORT:-56379}

# PostgreSQL refuses to run as root: run it as the `postgres` user when we are root.
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$work"

cleanup() {
  as_pg "$pg_bin/pg_ctl -D $work/pg -m immediate stop" >/dev/null 2>&1 || true
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

as_pg "$pg_bin/initdb -D $work/pg -A trust -U postgres" >/dev/null
as_pg "$pg_bin/pg_ctl -D $work/pg -l $work/pg.log -w -o '-p $pg_port -k $work -c listen_addresses=127.0.0.1 -c fsync=off' start" >/dev/null
# The database DATABASE_URL names, for commands that run the app itself (bench/load.py); pytest
# creates its own test_ database beside it.
as_pg "$pg_bin/createdb -h 127.0.0.1 -p $pg_port -U postgres sam_annotator"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --dir "$work" --logfile "$work/redis.log"
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/sam_annotator"
export CELERY_BROKER_URL="redis://127.0.0.1:$redis_port/0"
export CELERY_RESULT_BACKEND="redis://127.0.0.1:$redis_port/1"
echo "services: PostgreSQL on $pg_port, Redis on $redis_port"
"$@"
