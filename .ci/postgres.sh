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
    PG_BINDIR=$bindir
    su postgres -s /bin/sh -c "$bindir/initdb -D $PG_DIR/data -A trust -U postgres" >/dev/null
    # A random port may be taken (another cluster, another helper): try a few.
    local port attempt
    for attempt in 1 2 3 4 5; do
        port=$(( 20000 + RANDOM % 20000 ))
        if su postgres -s /bin/sh -c "$bindir/pg_ctl -D $PG_DIR/data -l $PG_DIR/log -w -o \"-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=on\" start" >/dev/null; then
            export LN_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/postgres"
            echo "postgres: $LN_TEST_POSTGRES_URL"
            return 0
        fi
        echo "postgres: start on port $port failed (attempt $attempt):" >&2
        tail -n 5 "$PG_DIR/log" >&2 || true
    done
    return 1
}

stop_postgres() {
    if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
        su postgres -s /bin/sh -c "$PG_BINDIR/pg_ctl -D $PG_DIR/data -m immediate stop" >/dev/null 2>&1 || true
        rm -rf "$PG_DIR"
    fi
}
