#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test.
#   1. unit + integration tests (cmocka via ctest) on a normal build, after two checks on it: no
#      cycle of calls between library files (scripts/check-calls.sh) and no drift from
#      .clang-format (scripts/check-format.sh)
#   2. the same tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   3. a short libFuzzer run of every fuzz target (clang)
#   4. the HTTP API checked against docs/openapi.yaml (node's test runner, real gateway)
#   5. the producer examples (examples/producers: JavaScript, Go, C) against real NATS + gateway
#   6. the JavaScript client (gateway/client-js) on node's test runner against real gateways
#   6b. NATS failures (tests/cluster): a 3-node TLS cluster losing its stream leader, a gateway and
#      the webhook consumer's node while events flow; a NATS server that stops answering
#   6c. containers (tests/containers): the deploy/ files run with podman - the images, compose with
#      a 3-node TLS NATS cluster behind the HTTP/2 front (curl --http2, 8 EventSources in Chromium,
#      a NATS node killed, stops), the Kubernetes manifests schema-checked and played with podman
#   7. the browser end-to-end test in headless Chromium
# Integration tests start their own nats-server on free ports and stop them by pid.
# Environment: FLOVYN_FUZZ_SECONDS (default 10 per target), FLOVYN_SKIP_E2E=1, FLOVYN_SKIP_ASAN=1,
# FLOVYN_SKIP_CONTAINERS=1.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

scripts/install-deps.sh --test || { echo "install-deps failed"; exit 1; }

jobs=$(nproc)
passed=0      # steps
failed=0
failures=()
tests_passed=0 # individual test programs / cases, for the closing line
tests_failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

step() { printf '\n==== %s ====\n' "$*"; }
record() { # name status
  if [[ $2 -eq 0 ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$1"); fi
}

build() { # dir extra-cmake-args...
  local dir=$1; shift
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir.cmake.log" 2>&1 ||
    { cat "$dir.cmake.log"; return 1; }
  # no `|| true` here: under pipefail a failed build would run it, and PIPESTATUS would then be
  # true's - every build failure was silently counted as a pass that way
  cmake --build "$dir" -j"$jobs" 2>&1 | grep -Ev '^\[ *[0-9]+%\]'
  local st=("${PIPESTATUS[@]}")
  return "${st[0]}"
}

count_ctest() { # reads ctest's "N% tests passed, F tests failed out of T" from $log
  local line f t
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  t=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
  if [[ -n $line ]]; then
    tests_passed=$((tests_passed + t - f)); tests_failed=$((tests_failed + f))
  else
    tests_failed=$((tests_failed + 1))
  fi
}

run_ctest() { # dir
  local dir=$1
  # unit tests are independent and fast: run them in parallel; integration tests start servers
  # and processes, two at a time keeps the machine responsive
  ctest --test-dir "$dir" -L unit --output-on-failure -j"$jobs" 2>&1 | tee "$log"
  local u=${PIPESTATUS[0]}
  count_ctest
  ctest --test-dir "$dir" -L integration --output-on-failure -j2 2>&1 | tee "$log"
  local i=${PIPESTATUS[0]}
  count_ctest
  return $((u || i))
}

step "build (gcc, -Werror)"
build "$root/build" ; record "build" $?

step "layering and format checks"
check() { # name command...: each check is one step record and one test, as each fuzzer is
  local name=$1; shift
  "$@"; local st=$?
  record "$name" $st
  if [[ $st -eq 0 ]]; then tests_passed=$((tests_passed + 1))
  else tests_failed=$((tests_failed + 1)); fi
}
# the self-test first: it proves check-calls still catches a cycle before we trust its verdict
check "check-calls-selftest" tests/checks/test_check_calls.sh
# reads the objects of the build above, so a cycle is found whatever made it (macros included)
check "check-calls" scripts/check-calls.sh "$root/build"
check "check-format" scripts/check-format.sh

step "unit + integration tests"
run_ctest "$root/build" ; record "tests" $?

if [[ "${FLOVYN_SKIP_ASAN:-0}" != 1 ]]; then
  step "build with AddressSanitizer + UBSan"
  build "$root/build-asan" -DFLOVYN_SANITIZE=ON ; record "build-asan" $?
  step "unit + integration tests under ASan + UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest "$root/build-asan" ; record "tests-asan" $?
fi

step "fuzzers (libFuzzer, ${FLOVYN_FUZZ_SECONDS:-10}s each)"
CC=clang build "$root/build-fuzz" -DFLOVYN_FUZZ=ON ; st=$?
record "build-fuzz" $st
if [[ $st -eq 0 ]]; then
  for f in "$root"/build-fuzz/fuzz_*; do
    [[ -x "$f" ]] || continue
    name=$(basename "$f")
    corpus_src="$root/tests/fuzz/corpus/${name#fuzz_}"
    work=$(mktemp -d)
    [[ -d "$corpus_src" ]] && cp -r "$corpus_src"/. "$work"/ 2>/dev/null
    "$f" -max_total_time="${FLOVYN_FUZZ_SECONDS:-10}" -max_len=4096 -timeout=10 \
         -artifact_prefix="$root/build-fuzz/$name-" "$work" >"$root/build-fuzz/$name.log" 2>&1
    st=$?
    echo "$name: $(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$root/build-fuzz/$name.log" || tail -1 "$root/build-fuzz/$name.log") exit=$st"
    [[ $st -ne 0 ]] && tail -40 "$root/build-fuzz/$name.log"
    record "$name" $st
    if [[ $st -eq 0 ]]; then tests_passed=$((tests_passed + 1)); else tests_failed=$((tests_failed + 1)); fi
    rm -rf "$work"
  done
fi

node_suite() { # name run.sh: a node test runner suite, its "# pass N" / "# fail N" counted
  local name=$1 script=$2
  "$script" "$root/build" 2>&1 | tee "$log"; local st=${PIPESTATUS[0]}
  record "$name" "$st"
  local p f
  p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$log" | tail -1)
  f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$log" | tail -1)
  tests_passed=$((tests_passed + ${p:-0})); tests_failed=$((tests_failed + ${f:-0}))
  [[ $st -ne 0 && ${f:-0} -eq 0 ]] && tests_failed=$((tests_failed + 1))
  return 0
}

step "HTTP API against docs/openapi.yaml (real gateway)"
node_suite "api" tests/api/run.sh

step "producer examples: JavaScript, Go, C publish with plain NATS clients (docs/producers.md)"
node_suite "producers" tests/producers/run.sh

step "JavaScript client (node's test runner, real gateway and nats-server)"
node_suite "client-js" gateway/client-js/test/run.sh

step "NATS failures: 3-node TLS cluster (leader, gateway, webhook node killed) and a stalled server"
node_suite "cluster" tests/cluster/run.sh

if [[ "${FLOVYN_SKIP_CONTAINERS:-0}" != 1 ]]; then
  step "containers: images, compose (TLS NATS cluster, HTTP/2 front), Kubernetes manifests with podman"
  node_suite "containers" tests/containers/run.sh
fi

if [[ "${FLOVYN_SKIP_E2E:-0}" != 1 && -x tests/e2e/run.sh ]]; then
  step "browser end-to-end (headless Chromium)"
  node_suite "e2e" tests/e2e/run.sh
fi

step "summary"
((failed)) && printf 'failed: %s\n' "${failures[@]}"
echo "steps: $passed passed, $failed failed"
echo "tests: $tests_passed passed, $tests_failed failed"
exit $((failed > 0 || tests_failed > 0))
