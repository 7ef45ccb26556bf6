# Sourced on the lent device machine (from the repository root) before the front-end benches:
#   source bench/device/setup.sh && python3 bench/load.py --postgres --redis ...
# Unpacks .dev/ (made here by bench/device/bundle.sh, carried with `carry: [".dev"]`): this project's
# dependencies for the device's Python 3.12 on PYTHONPATH, and a Redis and a PostgreSQL 15 server of their own,
# started on loopback with the addresses tests/faults/stack.py reads (TEST_REDIS_URL, TEST_POSTGRES_URL).
# PG_PORT, REDIS_PORT, NXZ_ROOT and NXZ_PYTHON (python3.12 here) let it be tried beside this box's own servers.
nxz_root=${NXZ_ROOT:-/tmp/nxz}
pg_port=${PG_PORT:-5432}
redis_port=${REDIS_PORT:-6379}
export PYTHONUNBUFFERED=1
mkdir -p "$nxz_root"/{site,pg,redis} || return 1
tar -xJf .dev/site312.tar.xz -C "$nxz_root/site" && tar -xJf .dev/pg.tar.xz -C "$nxz_root/pg" \
  && tar -xJf .dev/redis.tar.xz -C "$nxz_root/redis" || return 1
export PYTHONPATH="$nxz_root/site"
LD_LIBRARY_PATH="$nxz_root/redis/libs" "$nxz_root/redis/redis-server" --port "$redis_port" --bind 127.0.0.1 \
  --save '' --appendonly no --daemonize yes --logfile "$nxz_root/redis.log" || return 1
# PostgreSQL will not run as root (the device's commands do): its data folder belongs to nobody. Its zone data is
# the system's (Debian's build): where the machine has none, GMT needs no file.
pg_bin=$(echo "$nxz_root"/pg/usr/lib/postgresql/*/bin)
mkdir -p "$nxz_root/pgdata" "$nxz_root/pgsock" && chown nobody "$nxz_root/pgdata" "$nxz_root/pgsock"
as_pg() { runuser -u nobody -- env LD_LIBRARY_PATH="$nxz_root/pg/libs" TZ=GMT "$@"; }
as_pg "$pg_bin/initdb" -D "$nxz_root/pgdata" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$nxz_root/initdb.log" 2>&1 \
  || { cat "$nxz_root/initdb.log"; return 1; }
as_pg "$pg_bin/pg_ctl" -D "$nxz_root/pgdata" -l "$nxz_root/pgsock/postgres.log" -w start -o "-p $pg_port \
  -k $nxz_root/pgsock -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=1GB \
  -c timezone=GMT -c log_timezone=GMT" >/dev/null || { cat "$nxz_root/pgsock/postgres.log"; return 1; }
export TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$pg_port/test" TEST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
"${NXZ_PYTHON:-python3}" - "$pg_port" <<'PY' || return 1
import asyncio, sys
import asyncpg
async def main() -> None:
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{sys.argv[1]}/postgres")
    if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = 'test'"):
        await conn.execute("CREATE DATABASE test")
    print("postgres", await conn.fetchval("SHOW server_version"), "up; python", sys.version.split()[0])
    await conn.close()
asyncio.run(main())
PY
"${NXZ_PYTHON:-python3}" -c "import redis; print('redis', redis.Redis(port=$redis_port).info()['redis_version'], 'up')" || return 1
