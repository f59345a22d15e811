# node-suite.sh - sourced by the run.sh of the JavaScript suites (tests/e2e/run.sh,
# gateway/client-js/test/run.sh): the BUILD_DIR argument and the check for what a run needs.

# suite_build_dir USAGE [BUILD_DIR]: sets $build to BUILD_DIR made absolute, or exits 2
suite_build_dir() {
  build="${2:-}"
  if [[ -z "$build" || ! -d "$build" ]]; then
    echo "usage: $1 BUILD_DIR" >&2
    exit 2
  fi
  build="$(cd "$build" && pwd)"
}

# suite_require NAME NODE_MAJOR [EXTRA...]: exits 1 naming whatever is missing of node (that
# major version or later), nats-server, the two binaries in $build and the EXTRA items the caller
# found missing ("what (how to get it)")
suite_require() {
  local name=$1 major=$2 b
  shift 2
  local missing=("$@")
  if ! command -v node >/dev/null; then
    missing+=("node (apt-get install -y nodejs)")
  elif (($(node -p 'process.versions.node.split(".")[0]') < major)); then
    missing+=("node $major or later (this one is $(node --version))")
  fi
  command -v nats-server >/dev/null || missing+=("nats-server (apt-get install -y nats-server)")
  for b in flovyn-gateway flovyn-bridge; do
    [[ -x "$build/$b" ]] || missing+=("$build/$b (cmake --build $build)")
  done
  if ((${#missing[@]})); then
    for b in "${missing[@]}"; do echo "$name: missing $b" >&2; done
    exit 1
  fi
}
