# shellcheck shell=bash
# Shared by every service of scripts/services: settings, messages, and the start / wait /
# stop / status steps that each server's process goes through.

###############################################################################
# settings (scripts/services.env, shifted by DSR_PORT_OFFSET)
###############################################################################

# KEY=VALUE lines of scripts/services.env into CONF. Parsed rather than sourced, so that
# values already exported in the caller's shell (e.g. an earlier `env` with an offset)
# neither override the file nor get overridden for the servers we start.
declare -A CONF
load_conf() {
  local file="$1" l n=0
  while IFS= read -r l || [[ -n "$l" ]]; do
    n=$((n + 1))
    [[ "$l" =~ ^[[:space:]]*(#|$) ]] && continue
    [[ "$l" =~ ^([A-Z][A-Z0-9_]*)=([^[:space:]\'\"\$\`\\]*)$ ]] \
      || die "$file:$n: not a plain KEY=VALUE line (no quotes, spaces or \$): $l"
    CONF[${BASH_REMATCH[1]}]="${BASH_REMATCH[2]}"
  done <"$file"
  local k
  for k in DSR_PG_VERSION DSR_MARIADB_VERSION DSR_MYSQL_MAJOR \
           DSR_PG_PORT DSR_PG_NOTLS_PORT DSR_MARIADB_PORT DSR_MYSQL_PORT DSR_MOTO_PORT \
           DSR_PG_ADMIN_USER DSR_PG_ADMIN_PASSWORD DSR_MARIADB_ADMIN_USER DSR_MARIADB_ADMIN_PASSWORD \
           DSR_MYSQL_ADMIN_USER DSR_MYSQL_ADMIN_PASSWORD AWS_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; do
    [[ -n "${CONF[$k]:-}" ]] || die "$file: $k is missing"
  done
}

# The variables the service files use. Called once, by scripts/services.
# shellcheck disable=SC2034 # the service files (pg.sh, mariadb.sh, ...) read these
init_settings() {
  load_conf "$SCRIPT_DIR/services.env"
  STATE="$REPO/.services"
  TLS="$STATE/tls"
  # DSR_PORT_OFFSET moves every port by the same amount, so that several checkouts can run
  # their own services side by side (`env` prints the moved ports for the tests).
  PORT_OFFSET="${DSR_PORT_OFFSET:-0}"
  [[ "$PORT_OFFSET" =~ ^[0-9]{1,4}$ ]] || { printf 'services: ERROR: DSR_PORT_OFFSET must be 0-9999\n' >&2; exit 2; }
  PG_PORT=$((CONF[DSR_PG_PORT] + PORT_OFFSET))
  PG_NOTLS_PORT=$((CONF[DSR_PG_NOTLS_PORT] + PORT_OFFSET))
  MARIADB_PORT=$((CONF[DSR_MARIADB_PORT] + PORT_OFFSET))
  MYSQL_PORT=$((CONF[DSR_MYSQL_PORT] + PORT_OFFSET))
  MOTO_PORT=$((CONF[DSR_MOTO_PORT] + PORT_OFFSET))
  PG_BIN="${DSR_PG_BIN:-/usr/lib/postgresql/${CONF[DSR_PG_VERSION]}/bin}"
  WAIT_SECS="${DSR_SERVICES_TIMEOUT:-60}"
  # Unix sockets have a ~107 byte path limit; if the checkout lives very deep,
  # put (only) the sockets under /tmp instead.
  if (( ${#STATE} <= 80 )); then
    SOCK_BASE="$STATE"
  else
    SOCK_BASE="/tmp/dsr-services-$(printf '%s' "$STATE" | cksum | cut -d' ' -f1)"
  fi
}

###############################################################################
# messages and small helpers
###############################################################################

log()  { printf '%s\n' "$*" >&2; }
die()  { printf 'services: ERROR: %s\n' "$*" >&2; exit 1; }
line() { printf '%-10s %-6s %s\n' "$1" "$2" "$3"; }

# Print the tail of a log file to stderr (used on every failure).
show_log() {
  local f="$1"
  if [[ -f "$f" ]]; then
    log "---- last 40 lines of $f ----"
    tail -n 40 "$f" >&2 || true
    log "----"
  else
    log "(no log file $f)"
  fi
}

need_root() {
  if (( EUID != 0 )); then
    if command -v sudo >/dev/null 2>&1; then
      exec sudo -E "$0" "$@"
    fi
    die "must run as root (needs apt, runuser, chown)"
  fi
}

as_user() { local u="$1"; shift; runuser -u "$u" -- "$@"; }

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True if process $1 exists and is not a zombie (an exited child not yet reaped).
pid_alive() {
  [[ -n "${1:-}" && -r "/proc/$1/stat" ]] || return 1
  local stat; stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ -n "$stat" && "${stat%% *}" != Z ]]
}
read_pid() { if [[ -f "$1" ]]; then head -n1 "$1" | tr -dc '0-9' || true; fi; }

# Describe who holds a port (best effort) for error messages.
port_owner() {
  local port="$1" info pid
  if command -v ss >/dev/null 2>&1; then
    info="$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n1 || true)"
    pid="$(printf '%s' "$info" | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2 || true)"
    if [[ -n "$pid" && -r "/proc/$pid/cmdline" ]]; then
      printf 'pid %s: %s' "$pid" "$(tr '\0' ' ' <"/proc/$pid/cmdline")"
      return
    fi
    [[ -n "$info" ]] && { printf '%s' "$info"; return; }
  fi
  printf 'unknown process'
}

fail_port_taken() {
  local name="$1" port="$2"
  die "$name: port 127.0.0.1:$port is already in use by something that is not this checkout's $name ($(port_owner "$port")). Another checkout's services may still be running: stop them with '<that checkout>/scripts/services down', then retry."
}

# wait_until <seconds> <description> <logfile> <command...>
wait_until() {
  local secs="$1" what="$2" logf="$3"; shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if (( SECONDS >= deadline )); then
      show_log "$logf"
      die "timed out after ${secs}s waiting for $what"
    fi
    sleep 0.2
  done
}

# Write $2 (content) to file $1 only if it differs; returns 0 if it changed.
write_if_changed() {
  local f="$1" content="$2"
  if [[ -f "$f" ]] && [[ "$(cat "$f")" == "$content" ]]; then
    return 1
  fi
  printf '%s\n' "$content" >"$f.tmp.$$"
  mv -f "$f.tmp.$$" "$f"
  return 0
}

# Copy $1 to $2 with owner $3, mode 0600, only if different.
install_copy() {
  local src="$1" dst="$2" owner="$3"
  if [[ -f "$dst" ]] && cmp -s "$src" "$dst"; then
    return 0
  fi
  install -m 0600 -o "$owner" -g "$owner" "$src" "$dst"
}

# Warn (never fail) when a server's version is not the one scripts/services.env names.
check_version() { # name wanted actual
  [[ "$3" == "$2" || "$3" == "$2".* ]] \
    || log "services: WARNING: $1 is version ${3:-unknown}, scripts/services.env says $2"
}

lock_state() {
  mkdir -p "$STATE"
  chmod 0755 "$STATE"
  # NB: every long-lived process we spawn gets '9>&-' so it doesn't inherit the lock.
  exec 9>"$STATE/.lock"
  flock -w "$((WAIT_SECS * 5))" 9 || die "could not lock $STATE/.lock (another 'scripts/services' still running?)"
}

###############################################################################
# apt packages (PostgreSQL, MariaDB, build dependencies)
###############################################################################

missing_apt_packages() {
  local pkgs=()
  [[ -x "$PG_BIN/postgres" && -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]] \
    || pkgs+=("postgresql-${CONF[DSR_PG_VERSION]}")
  command -v mariadbd >/dev/null 2>&1 && command -v mariadb-install-db >/dev/null 2>&1 \
    || pkgs+=(mariadb-server)
  command -v mariadb >/dev/null 2>&1 && command -v mariadb-admin >/dev/null 2>&1 \
    || pkgs+=(mariadb-client)
  command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
  command -v curl >/dev/null 2>&1 || pkgs+=(curl ca-certificates)
  command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
  # Build dependencies of the Rust crate (openssl-sys for native-tls).
  command -v cc >/dev/null 2>&1 || pkgs+=(gcc libc6-dev)
  command -v pkg-config >/dev/null 2>&1 || pkgs+=(pkg-config)
  [[ -f /usr/include/openssl/ssl.h ]] || pkgs+=(libssl-dev)
  printf '%s\n' "${pkgs[@]}"
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@"
}

install_apt_packages() {
  local -a pkgs
  mapfile -t pkgs < <(missing_apt_packages | sed '/^$/d')
  if (( ${#pkgs[@]} > 0 )); then
    log "services: apt-get install ${pkgs[*]}"
    apt_install "${pkgs[@]}"
    mapfile -t pkgs < <(missing_apt_packages | sed '/^$/d')
    (( ${#pkgs[@]} == 0 )) || die "still missing after apt-get: ${pkgs[*]}"
    # Debian's postinst may have created/started system-wide instances on
    # 5432/3306 (when an init system exists). We never use them: our
    # instances have their own data dirs, ports and sockets.
  fi
}

###############################################################################
# a server process: started by us with setsid, its pid in $STATE/<name>.pid
###############################################################################

svc_pidfile() { printf '%s/%s.pid' "$STATE" "$1"; }
svc_pid() { read_pid "$(svc_pidfile "$1")"; }

# svc_running <name> <pattern...>: our process is alive and its command line names one of
# the patterns (so a reused pid is not taken for the server).
svc_running() {
  local name="$1" pid p; shift
  pid="$(svc_pid "$name")"
  pid_alive "$pid" || return 1
  local -a args=()
  for p in "$@"; do args+=(-e "$p"); done
  grep -qa "${args[@]}" "/proc/$pid/cmdline" 2>/dev/null
}

# svc_start <name> <port> <log> <command...>: start the server in its own session, with
# its output appended to <log>, and record its pid.
svc_start() {
  local name="$1" port="$2" logf="$3"; shift 3
  if port_open "$port"; then fail_port_taken "$name" "$port"; fi
  rm -f "$(svc_pidfile "$name")"
  setsid "$@" </dev/null >>"$logf" 2>&1 9>&- &
  echo $! >"$(svc_pidfile "$name")"
}

# svc_wait <name> <process> <what> <ready command> <log> [<second log on exit>]
# Until the child has exec'd the server its command line is this shell's, so the wait
# watches the pid (alive, not a zombie) and the server's answer, never the command line.
svc_wait() {
  local name="$1" proc="$2" what="$3" ready="$4" logf="$5" exitlog="${6:-}" pid
  pid="$(svc_pid "$name")"
  local deadline=$((SECONDS + WAIT_SECS))
  until "$ready" >/dev/null 2>&1; do
    if ! pid_alive "$pid"; then
      show_log "$logf"; [[ -z "$exitlog" ]] || show_log "$exitlog"; die "$name: $proc exited"
    fi
    if (( SECONDS >= deadline )); then
      show_log "$logf"; die "$name: timed out after ${WAIT_SECS}s waiting for $what"
    fi
    sleep 0.2
  done
}

# svc_stop <name> <port> <pattern...>: SIGTERM, then SIGKILL after WAIT_SECS. setsid made
# the server a process-group leader: the whole group is stopped.
svc_stop() {
  local name="$1" port="$2" pid; shift 2
  pid="$(svc_pid "$name")"
  if svc_running "$name" "$@"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + WAIT_SECS))
    while pid_alive "$pid"; do
      if (( SECONDS >= deadline )); then
        log "$name: still running after ${WAIT_SECS}s, sending SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        sleep 1; break
      fi
      sleep 0.2
    done
    line "$name" "$port" "stopped"
  else
    line "$name" "$port" "not running"
  fi
  rm -f "$(svc_pidfile "$name")"
}

# svc_status <name> <port> <label function or ""> <check command...>: one status line;
# returns 1 unless the check (running and answering) succeeds.
svc_status() {
  local name="$1" port="$2" label="$3"; shift 3
  if "$@" >/dev/null 2>&1; then
    line "$name" "$port" "running (pid $(svc_pid "$name")${label:+, $("$label")})"
  else
    line "$name" "$port" "not running"; return 1
  fi
}
