# shellcheck shell=bash
# Sourced by scripts/package and scripts/check-deploy: installs the deploy tools at the
# versions scripts/deploy-tools.txt pins, each into a venv so the system Python stays untouched.

DEPLOY_TOOLS_PINS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/deploy-tools.txt"

# deploy_tools <venv> <name>...: creates <venv> when missing and installs the named tools with
# their pins; pip runs only when one of them is missing or at another version.
deploy_tools() {
  local venv="$1"; shift
  local me; me="$(basename "$0")"
  if [[ ! -x "$venv/bin/python" ]]; then
    printf '%s: creating %s\n' "$me" "$venv" >&2
    python3 -m venv "$venv" \
      || { printf '%s: ERROR: python3 -m venv failed (Debian: apt-get install python3-venv)\n' "$me" >&2; exit 1; }
  fi
  local have name pin want=()
  have="$("$venv/bin/python" -m pip list --format=freeze 2>/dev/null || true)"
  for name in "$@"; do
    pin="$(grep -ix -- "$name==[0-9][^[:space:]]*" "$DEPLOY_TOOLS_PINS")" \
      || { printf '%s: ERROR: %s has no pin in %s\n' "$me" "$name" "$DEPLOY_TOOLS_PINS" >&2; exit 1; }
    grep -qix -- "$pin" <<<"$have" || want+=("$pin")
  done
  if (( ${#want[@]} )); then
    printf '%s: pip install %s (into %s)\n' "$me" "${want[*]}" "$venv" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r <(printf '%s\n' "${want[@]}")
  fi
}
