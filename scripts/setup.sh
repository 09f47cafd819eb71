#!/usr/bin/env bash
# Creates .venv (server and bot, Python 3.11+) and .venv-rasa (Rasa 3.6.21, Python 3.10).
# Idempotent: each environment is rebuilt only when its inputs (lock files, pyproject) change.
set -euo pipefail
cd "$(dirname "$0")/.."

export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '[setup] %s\n' "$*" >&2; }

# Usage: find_python MAJOR.MINOR... -> prints the first interpreter that really is that version.
# PATH first, then pyenv's versions (pyenv shims on PATH may exist without the version active).
find_python() {
  local want cand
  for want in "$@"; do
    for cand in "python$want" "$HOME"/.pyenv/versions/"$want".*/bin/python "/usr/bin/python$want" \
                "/usr/local/bin/python$want"; do
      [ -x "$(command -v "$cand" 2>/dev/null || true)" ] || continue
      if "$cand" -c "import sys; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '$want' else 1)" \
          >/dev/null 2>&1; then
        command -v "$cand"
        return 0
      fi
    done
  done
  return 1
}

inputs_hash() { cat "$@" | sha256sum | cut -c1-16; }

ensure_venv() {  # dir python stamp_inputs... -- install_command...
  local dir=$1 py=$2; shift 2
  local inputs=() ; while [ "$1" != "--" ]; do inputs+=("$1"); shift; done; shift
  local stamp; stamp="$(inputs_hash "${inputs[@]}")-$("$py" -c 'import sys; print(sys.version.split()[0])')"
  if [ -f "$dir/.negocia-stamp" ] && [ "$(cat "$dir/.negocia-stamp")" = "$stamp" ]; then
    return 0
  fi
  log "creating $dir with $py"
  rm -rf "$dir"
  "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --upgrade "pip<25" "setuptools<76" wheel >/dev/null
  "$@"
  echo "$stamp" > "$dir/.negocia-stamp"
  log "$dir ready"
}

APP_PY=$(find_python 3.11 3.12 3.13) || {
  echo "negocia: Python 3.11 or newer not found (on PATH or under ~/.pyenv/versions)." >&2; exit 1; }
RASA_PY=$(find_python 3.10) || {
  echo "negocia: Python 3.10 not found (on PATH or under ~/.pyenv/versions/3.10.*)." >&2
  echo "Rasa 3.6.21 needs Python 3.10: install it (e.g. 'pyenv install 3.10') and run make again." >&2
  exit 1; }

ensure_venv .venv "$APP_PY" requirements/app.lock pyproject.toml -- \
  .venv/bin/python -m pip install -q -c requirements/app.lock -e ".[dev]"

ensure_venv .venv-rasa "$RASA_PY" requirements/rasa.lock requirements/rasa.in -- \
  .venv-rasa/bin/python -m pip install -q -c requirements/rasa.lock -r requirements/rasa.in

# Browser for the web-page tests: Debian's chromium (Playwright's own download cannot work here).
if [ "${NEGOCIA_SKIP_BROWSER:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing Debian's chromium for browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || log "could not install chromium; browser tests will fail"
  else
    log "chromium not found: install Debian's 'chromium' package for browser tests"
  fi
fi
