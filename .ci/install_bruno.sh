#!/usr/bin/env bash
# Installs the Bruno CLI (@usebruno/cli, version pinned in bruno/package.json + package-lock.json)
# into bruno/node_modules, so the binary is bruno/node_modules/.bin/bru.
# Quiet and idempotent: does nothing when the pinned version is already installed.
# Always exits 0: without npm the Bruno test (pytest -m bruno) is skipped, not failed.
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/bruno"
BRU="$DIR/node_modules/.bin/bru"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "install_bruno: node/npm not found; skipping the Bruno CLI (the bruno test will be skipped)."
    exit 0
fi

version_of() {  # version field of a package.json, or nothing
    node -e 'try { const p = require(process.argv[1]); console.log(p.version || p.devDependencies["@usebruno/cli"]); } catch (e) {}' "$1" 2>/dev/null
}
WANT="$(version_of "$DIR/package.json")"
if [ -x "$BRU" ]; then
    HAVE="$(version_of "$DIR/node_modules/@usebruno/cli/package.json")"
    if [ -n "$WANT" ] && [ "$HAVE" = "$WANT" ]; then
        echo "install_bruno: @usebruno/cli $HAVE already installed ($BRU)."
        exit 0
    fi
fi

if [ -f "$DIR/package-lock.json" ]; then
    CMD=(npm ci)
else
    CMD=(npm install)
fi
ERR="$(mktemp)"
if "${CMD[@]}" --prefix "$DIR" --no-audit --no-fund --loglevel=error >/dev/null 2>"$ERR" && [ -x "$BRU" ]; then
    echo "install_bruno: installed @usebruno/cli $(version_of "$DIR/node_modules/@usebruno/cli/package.json") ($BRU)."
else
    echo "install_bruno: npm could not install @usebruno/cli (the bruno test will be skipped):"
    tail -n 5 "$ERR"
fi
rm -f "$ERR"
exit 0
