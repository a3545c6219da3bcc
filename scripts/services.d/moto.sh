# shellcheck shell=bash
# moto: the AWS emulator (Secrets Manager, RDS, ...), from PyPI, state in memory.

MOTO_LOG="$STATE/moto.log"
MOTO_URL="http://127.0.0.1:$MOTO_PORT"

moto_installed() { python3 -c 'import moto.server' >/dev/null 2>&1; }

moto_install() {
  moto_installed && return 0
  log "services: pip install 'moto[server]'"
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  # Debian's system python is "externally managed" (PEP 668).
  python3 -m pip install -q 'moto[server]' \
    || python3 -m pip install -q --break-system-packages 'moto[server]'
  moto_installed || die "moto still not importable after pip install"
}

moto_running() { svc_running moto moto; }
moto_ready() { curl -fsS -o /dev/null --max-time 2 "$MOTO_URL/moto-api/"; }
moto_ok() { moto_running && moto_ready; }

moto_up() {
  if moto_ok >/dev/null 2>&1; then
    line moto "$MOTO_PORT" "already running"
    return 0
  fi
  local result
  if moto_running; then
    result="already running"
  else
    moto_installed || cmd_install
    svc_start moto "$MOTO_PORT" "$MOTO_LOG" python3 -m moto.server -H 127.0.0.1 -p "$MOTO_PORT"
    result="started"
  fi
  svc_wait moto server "$MOTO_URL/moto-api/" moto_ready "$MOTO_LOG"
  curl -fsS -o /dev/null --max-time 5 -X POST "$MOTO_URL/moto-api/config" \
    -H 'Content-Type: application/json' -d '{"lambda":{"use_docker":false}}' \
    || { show_log "$MOTO_LOG"; die "moto: POST /moto-api/config failed"; }
  line moto "$MOTO_PORT" "$result"
}

moto_down() { svc_stop moto "$MOTO_PORT" moto; }
moto_status() { svc_status moto "$MOTO_PORT" "" moto_ok; }
