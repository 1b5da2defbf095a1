#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis the tests talk to are up; start them if this machine has them
# installed but stopped; fail loudly, naming what is missing, otherwise.
set -uo pipefail

PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_PORT=6379

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "PostgreSQL is not answering on $PG_HOST:$PG_PORT; starting it"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  fi
fi
if ! redis_up; then
  if command -v redis-server >/dev/null; then
    echo "Redis is not answering on 127.0.0.1:$REDIS_PORT; starting it"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    for _ in $(seq 1 30); do redis_up && break; sleep 1; done
  fi
fi

failed=0
if ! pg_up; then
  echo "ERROR: PostgreSQL is required at $PG_HOST:$PG_PORT (trust auth, database 'test') and could not be started." >&2
  failed=1
fi
if ! redis_up; then
  echo "ERROR: Redis is required at 127.0.0.1:$REDIS_PORT and could not be started." >&2
  failed=1
fi
[ "$failed" -eq 0 ] && echo "PostgreSQL and Redis are up"
exit "$failed"
