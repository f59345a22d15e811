#!/usr/bin/env bash
# Self-test of scripts/check-calls.sh: small C files compiled into a fake build directory laid out
# as CMake lays out the flovyn target (CMakeFiles/flovyn.dir/<source path>.o), so the check is
# proven to catch a cycle (and to pass a one-way call) without depending on the library's state.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
check="$root/scripts/check-calls.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passes=0 fails=0
ok() { echo "ok - $1"; passes=$((passes + 1)); }
not_ok() { echo "not ok - $1"; fails=$((fails + 1)); }

obj() { # case source-path c-code: compiles into $tmp/case/CMakeFiles/flovyn.dir/source-path.o
  local dir="$tmp/$1/CMakeFiles/flovyn.dir"
  mkdir -p "$dir/$(dirname "$2")"
  printf '%s\n' "$3" >"$tmp/src.c"
  cc -c -o "$dir/$2.o" "$tmp/src.c" || { echo "cc failed on $1/$2"; exit 1; }
}

expect() { # name want-exit case grep-pattern...
  local name=$1 want=$2 dir="$tmp/$3" out st p
  shift 3
  out=$("$check" "$dir" 2>&1); st=$?
  if [[ $st -ne $want ]]; then
    not_ok "$name: exit $st, want $want"; printf '%s\n' "$out" | sed 's/^/#   /'; return
  fi
  for p in "$@"; do
    if ! grep -qE -- "$p" <<<"$out"; then
      not_ok "$name: output lacks /$p/"; printf '%s\n' "$out" | sed 's/^/#   /'; return
    fi
  done
  ok "$name"
}

obj mutual x/a.c 'int b(int); int a(int n) { return n ? b(n - 1) : 0; }'
obj mutual y/b.c 'int a(int); int b(int n) { return n ? a(n - 1) : 1; }'
expect "two files calling each other are a cycle, both named" 1 mutual \
  '^call cycle: (x/a\.c -> y/b\.c -> x/a\.c|y/b\.c -> x/a\.c -> y/b\.c)$' \
  'x/a\.c -> y/b\.c: b$' 'y/b\.c -> x/a\.c: a$'

obj oneway x/a.c 'int b(int); int a(int n) { return b(n) + 1; }'
obj oneway y/b.c 'int b(int n) { return n * 2; }'
expect "a one-way call passes" 0 oneway '^layering: 2 library files, no call cycle$'

# three files around a ring, a fourth only called: one component of three, the fourth not in it
obj ring r/a.c 'int b(void); int a(void) { return b(); }'
obj ring r/b.c 'int c(void); int b(void) { return c(); }'
obj ring r/c.c 'int a(void); int d(void); int c(void) { return a() + d(); }'
obj ring r/d.c 'int d(void) { return 4; }'
expect "a cycle through three files names all three and not the file outside it" 1 ring \
  '^call cycle among 3 files: r/a\.c, r/b\.c, r/c\.c$' \
  '^call cycle: r/a\.c -> r/b\.c -> r/c\.c -> r/a\.c$'
if "$check" "$tmp/ring" 2>&1 | grep -q 'r/d\.c'; then
  not_ok "a file only called is not named"
else
  ok "a file only called is not named"
fi

# an object left behind by a moved source is not in link.txt and must not make a cycle
obj stale x/a.c 'int b(int); int a(int n) { return b(n); }'
obj stale y/b.c 'int b(int n) { return n; }'
obj stale old/b.c 'int a(int); int b_old(int n) { return a(n); }'
echo '/usr/bin/ar qc libflovyn.a CMakeFiles/flovyn.dir/x/a.c.o "CMakeFiles/flovyn.dir/y/b.c.o"' \
  >"$tmp/stale/CMakeFiles/flovyn.dir/link.txt"
expect "objects outside the target's link.txt are skipped" 0 stale \
  'skipping 1 object\(s\) not in the flovyn target: old/b\.c\.o' \
  '^layering: 2 library files, no call cycle$'

mkdir -p "$tmp/empty/CMakeFiles/flovyn.dir"
expect "no objects is a usage error, not a pass" 2 empty 'build the flovyn target first'

echo "# $passes passed, $fails failed"
exit $((fails > 0))
