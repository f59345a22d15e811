# node_suite.sh - sourced by the run.sh of each node test suite (e2e, api, producers, and the
# JavaScript client's in gateway/client-js/test): the checks they all need before starting, and
# their npm dependencies from the committed lock file.

# fv_suite_check NAME BUILD_DIR [MESSAGE...] - exits 1 naming what is missing: node, npm,
# nats-server, the two daemons in BUILD_DIR, and the suite's own MESSAGEs (already found missing)
fv_suite_check() {
  local name=$1 build=$2
  shift 2
  local missing=("$@")
  command -v node >/dev/null || missing+=("node (apt-get install -y nodejs npm)")
  command -v npm >/dev/null || missing+=("npm (apt-get install -y npm)")
  command -v nats-server >/dev/null || missing+=("nats-server (apt-get install -y nats-server)")
  local b
  for b in flovyn-gateway flovyn-bridge; do
    [[ -x "$build/$b" ]] || missing+=("$build/$b (cmake --build $build)")
  done
  if ((${#missing[@]})); then
    printf '%s: missing %s\n' "$name" "${missing[@]}" >&2
    exit 1
  fi
}

# fv_npm_ci DIR - npm ci in DIR, only when its installed tree does not match its lock file
fv_npm_ci() {
  local dir=$1
  local stamp="$dir/node_modules/.lock-stamp"
  if [[ ! -f "$stamp" ]] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$dir/package-lock.json" "$stamp"
  fi
}

# fv_suite_build_dir NAME ARG - prints ARG as an absolute directory, or the usage and exits 2
# (NAME is the suite's folder under tests/, or the path of its run.sh when it lives elsewhere)
fv_suite_build_dir() {
  if [[ -z "$2" || ! -d "$2" ]]; then
    if [[ $1 == */* ]]; then echo "usage: $1 BUILD_DIR" >&2; else echo "usage: tests/$1/run.sh BUILD_DIR" >&2; fi
    exit 2
  fi
  (cd "$2" && pwd)
}

# fv_suite_node_major NAME MAJOR - exits 1 when node is older than MAJOR
fv_suite_node_major() {
  local have
  have=$(node -p 'process.versions.node.split(".")[0]')
  if ((have < $2)); then
    echo "$1: missing node $2 or later (this one is $(node --version))" >&2
    exit 1
  fi
}

# fv_suite_run DIR BUILD_DIR TIMEOUT_MS - runs DIR's *.test.mjs with node's test runner, one file
# at a time, FV_BUILD_DIR set (other FV_* variables pass through); replaces the shell
fv_suite_run() {
  cd "$1"
  FV_BUILD_DIR="$2" exec node --test --test-concurrency=1 --test-timeout="$3" ./*.test.mjs
}
