# Starts a throwaway PostgreSQL cluster on 127.0.0.1 and exports its URL in
# LN_TEST_POSTGRES_URL. Sourced by .ci/run.
start_postgres() {
    local bindir
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bindir" ]; then
        echo "postgres: no server binaries found" >&2
        return 1
    fi
    PG_DIR=$(mktemp -d /tmp/ln-pg.XXXXXX)
    chown postgres "$PG_DIR"
    local port=$(( 20000 + RANDOM % 20000 ))
    su postgres -s /bin/sh -c "$bindir/initdb -D $PG_DIR/data -A trust -U postgres" >/dev/null
    su postgres -s /bin/sh -c "$bindir/pg_ctl -D $PG_DIR/data -l $PG_DIR/log -w -o \"-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=on\" start" >/dev/null
    PG_BINDIR=$bindir
    export LN_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/postgres"
    echo "postgres: $LN_TEST_POSTGRES_URL"
}

stop_postgres() {
    if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
        su postgres -s /bin/sh -c "$PG_BINDIR/pg_ctl -D $PG_DIR/data -m immediate stop" >/dev/null 2>&1 || true
        rm -rf "$PG_DIR"
    fi
}
