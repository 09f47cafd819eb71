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

# pip, quietly: this machine's pip config names local indexes that may not exist.
pip_install() {  # venv_dir args...
  local dir=$1; shift
  "$dir/bin/python" -m pip install -q "$@" 2> >(grep -v "is ignored: it is neither" >&2)
}

# ensure_venv DIR PYTHON STAMP_INPUT... -- PIP_ARGS...
# Rebuilt from scratch only when the interpreter changes; otherwise pip brings an existing venv
# up to date in place, and nothing at all happens when the inputs' hash is unchanged.
ensure_venv() {
  local dir=$1 py=$2; shift 2
  local inputs=(); while [ "$1" != "--" ]; do inputs+=("$1"); shift; done; shift
  local pyver; pyver=$("$py" -c 'import sys; print(sys.version.split()[0])')
  local stamp; stamp="$(inputs_hash "${inputs[@]}")-$pyver"
  if [ -f "$dir/.negocia-stamp" ] && [ "$(cat "$dir/.negocia-stamp")" = "$stamp" ]; then
    return 0
  fi
  if [ ! -x "$dir/bin/python" ] || [ "$("$dir/bin/python" -c 'import sys; print(sys.version.split()[0])')" != "$pyver" ]; then
    log "creating $dir with $py"
    rm -rf "$dir"
    "$py" -m venv "$dir"
    pip_install "$dir" --upgrade "pip<25" "setuptools<76" wheel
  else
    log "updating $dir"
  fi
  pip_install "$dir" "$@"
  echo "$stamp" > "$dir/.negocia-stamp"
  log "$dir ready"
}

APP_PY=$(find_python 3.11 3.12 3.13) || {
  echo "negocia: Python 3.11 or newer not found (on PATH or under ~/.pyenv/versions)." >&2; exit 1; }
RASA_PY=$(find_python 3.10) || {
  echo "negocia: Python 3.10 not found (on PATH or under ~/.pyenv/versions/3.10.*)." >&2
  echo "Rasa 3.6.21 needs Python 3.10: install it (e.g. 'pyenv install 3.10') and run make again." >&2
  exit 1; }

# Only pyproject's dependency lists count, not tool settings (ruff, pytest) kept in the same file.
"$APP_PY" -c 'import json, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]
print(json.dumps([p["dependencies"], p.get("optional-dependencies"), p.get("scripts")]))' > .deps-stamp.tmp
ensure_venv .venv "$APP_PY" requirements/app.lock .deps-stamp.tmp -- -c requirements/app.lock -e ".[dev]"
rm -f .deps-stamp.tmp

ensure_venv .venv-rasa "$RASA_PY" requirements/rasa.lock requirements/rasa.in -- \
  -c requirements/rasa.lock -r requirements/rasa.in

# Browser for the web-page tests (Debian's chromium: Playwright's own download cannot work here)
# and poppler-utils, whose pdftoppm renders the term PDF in a test.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
if [ "${NEGOCIA_SKIP_SYSTEM_PACKAGES:-0}" != 1 ] && [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing Debian packages: ${missing[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
      || log "could not install ${missing[*]}; browser and PDF tests will fail"
  else
    log "missing Debian packages for tests: ${missing[*]}"
  fi
fi
