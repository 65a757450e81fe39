# Sourced by scripts/test-js and scripts/test-web: a real dialogue-server (debug build) on a
# throw-away database, for tests driven from Node and the browser.
#
#   start_test_server WORK_DIR   builds and starts it; exports DIALOGUE_TEST_URL, _EMAIL,
#                                _PASSWORD and DIALOGUE_TEST_OUTBOX (its mail, one file each)
#   stop_test_server WORK_DIR    stops it, and the database when it started one
#
# The database is DIALOGUE_TEST_MONGODB_URI when set (scripts/test sets it), else a SecantusDB
# started in WORK_DIR/db. Extra DIALOGUE_* settings in the environment reach the server.

test_server_pid="" test_server_own_db=""
# The repository, so that stopping works from wherever the caller went meanwhile (scripts/test-web
# runs in web/).
test_server_root=$(pwd)

start_test_server() {
  local work="$1" uri="${DIALOGUE_TEST_MONGODB_URI:-}" port=""
  if [ -z "$uri" ]; then
    scripts/local-db install
    uri=$(scripts/local-db start "$work/db")
    test_server_own_db=1
  fi
  cargo build -q --bin dialogue-server
  export DIALOGUE_TEST_EMAIL=admin@example.org DIALOGUE_TEST_PASSWORD="admin password for js tests"
  export DIALOGUE_TEST_OUTBOX="$work/outbox"
  mkdir -p "$DIALOGUE_TEST_OUTBOX"
  : > "$work/server.log" # before the server opens it: the wait below reads it at once
  DIALOGUE_MONGODB_URI="$uri" DIALOGUE_DATABASE="js_$(date +%s)_$$" DIALOGUE_BIND=127.0.0.1:0 \
    DIALOGUE_ADMIN_EMAIL="$DIALOGUE_TEST_EMAIL" DIALOGUE_ADMIN_PASSWORD="$DIALOGUE_TEST_PASSWORD" \
    DIALOGUE_MAIL_OUTBOX="$DIALOGUE_TEST_OUTBOX" \
    DIALOGUE_LOG="warn,dialogue_server::startup=info" DIALOGUE_LOG_FORMAT=json \
    target/debug/dialogue-server > "$work/server.log" 2>&1 &
  test_server_pid=$!
  for _ in $(seq 1 300); do
    port=$(sed -n 's/.*"message":"listening".*"address":"127.0.0.1:\([0-9]*\)".*/\1/p' "$work/server.log" | head -1)
    [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    kill -0 "$test_server_pid" 2>/dev/null || { cat "$work/server.log" >&2; return 1; }
    sleep 0.1
  done
  [ -n "$port" ] || { echo "the server did not start" >&2; cat "$work/server.log" >&2; return 1; }
  export DIALOGUE_TEST_URL="http://127.0.0.1:$port"
}

stop_test_server() {
  local work="$1"
  [ -n "$test_server_pid" ] && kill -TERM "$test_server_pid" 2>/dev/null && wait "$test_server_pid" 2>/dev/null
  [ -n "$test_server_own_db" ] && "$test_server_root/scripts/local-db" stop "$work/db"
  return 0
}
