#!/usr/bin/env bash
# Runs Azurite's blob service (the Azure Storage emulator) for the tests of
# eventhub/checkpoints.BlobStore.
#
#   eval "$(bash scripts/azurite.sh start)"   # installs if needed, starts, exports the endpoint
#   bash scripts/azurite.sh stop              # stops the instance started from the same AZURITE_DIR
#
# start exports IOTHUB_AZURITE_BLOB_ENDPOINT (the instance's blob endpoint)
# and IOTHUB_AZURITE_BIN (the azurite-blob binary, for tests that start an
# instance of their own, such as one serving HTTPS).
#
# start prints only `export NAME=value` lines on stdout (progress goes to
# stderr), so its output can be eval'ed. It reuses an instance that is still
# running from an earlier start with the same AZURITE_DIR.
#
# Environment:
#   AZURITE_DIR        install, pid and log directory. Default: /tmp/iothub-azurite
#   AZURITE_BLOB_PORT  port to listen on. Default: a free port chosen by the kernel
#   AZURITE_VERSION    npm version to install. Default: 3.35.0 (the last that runs on Node 20)
#
# Azurite accepts only the well-known development account devstoreaccount1,
# whose key is public (Azurite's README); the tests use it.
set -euo pipefail

dir="${AZURITE_DIR:-/tmp/iothub-azurite}"
version="${AZURITE_VERSION:-3.35.0}"
bin="$dir/node_modules/.bin/azurite-blob"
pidfile="$dir/azurite-blob.pid"
portfile="$dir/azurite-blob.port"
logfile="$dir/azurite-blob.log"

log() { echo "azurite.sh: $*" >&2; }

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

answers() { # port
  # A TCP connect is enough: Azurite listens only once it is ready to serve.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

print_env() {
  echo "export IOTHUB_AZURITE_BLOB_ENDPOINT=http://127.0.0.1:$(cat "$portfile")/devstoreaccount1"
  # The interop suite starts an HTTPS instance of its own with this binary
  # (the official device SDKs upload files over https:// only).
  echo "export IOTHUB_AZURITE_BIN=$bin"
}

install() {
  if [ -x "$bin" ] && [ "$(node -p "require('$dir/node_modules/azurite/package.json').version" 2>/dev/null)" = "$version" ]; then
    return
  fi
  command -v npm >/dev/null || { log "npm not found; install Node.js 20 or newer"; exit 1; }
  log "installing azurite@$version into $dir"
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "azurite@$version" >&2
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

start() {
  if running && answers "$(cat "$portfile")"; then
    log "reusing azurite-blob pid $(cat "$pidfile") on port $(cat "$portfile")"
    print_env
    return
  fi
  install
  local port="${AZURITE_BLOB_PORT:-$(free_port)}"
  # --skipApiVersionCheck: azblob may speak a newer service version than this
  # Azurite knows; the operations the checkpoint store uses are unchanged.
  # Run from $dir so that nothing Azurite might write lands in the caller's tree.
  (cd "$dir" && exec nohup "$bin" --inMemoryPersistence --disableTelemetry --skipApiVersionCheck \
    --blobHost 127.0.0.1 --blobPort "$port" >"$logfile" 2>&1) &
  echo $! >"$pidfile"
  echo "$port" >"$portfile"
  for _ in $(seq 1 150); do # at most ~30 s
    if answers "$port"; then
      log "azurite-blob pid $(cat "$pidfile") listening on 127.0.0.1:$port"
      print_env
      return
    fi
    if ! running; then
      log "azurite-blob exited; its log:"
      cat "$logfile" >&2
      exit 1
    fi
    sleep 0.2
  done
  log "azurite-blob did not answer on port $port within 30 s; its log:"
  cat "$logfile" >&2
  stop
  exit 1
}

stop() {
  if running; then
    local pid
    pid="$(cat "$pidfile")"
    kill "$pid"
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    log "stopped azurite-blob pid $pid"
  fi
  rm -f "$pidfile" "$portfile"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
