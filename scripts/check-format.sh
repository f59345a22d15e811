#!/usr/bin/env bash
# Fails when a tracked C file under bridge/, gateway/src/ or tests/ differs from what clang-format
# makes of it with the repo's .clang-format, so formatting never drifts one edit at a time.
#   scripts/check-format.sh          list the files that differ (exit 1 if any)
#   scripts/check-format.sh --fix    reformat them in place
# Generated code (protoc-c output, anything under a generated/ folder) is not ours to format.
# clang-format's output changes between major versions, so the check runs one pinned major
# version (Debian bookworm's, installed by scripts/install-deps.sh --test): a newer one would
# flag files nobody touched. CLANG_FORMAT=/path/to/binary overrides the binary, not the pin.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

want_major=14
fix=0
case "${1:-}" in
  "") ;;
  --fix) fix=1 ;;
  *) echo "usage: $0 [--fix]" >&2; exit 2 ;;
esac

cf=${CLANG_FORMAT:-}
if [[ -z $cf ]]; then
  cf=$(command -v "clang-format-$want_major" || command -v clang-format) ||
    { echo "check-format: clang-format not found; run scripts/install-deps.sh --test" >&2; exit 2; }
fi
version=$("$cf" --version 2>/dev/null | grep -Eo 'clang-format version [0-9]+' | head -1)
if [[ ${version##* } != "$want_major" ]]; then
  echo "check-format: $cf is not clang-format $want_major (${version:-no clang-format version});" \
       "the check is pinned to it: run scripts/install-deps.sh --test" >&2
  exit 2
fi

files=()
while IFS= read -r f; do
  [[ -f $f ]] || continue # staged as deleted or moved away in the work tree
  files+=("$f")
done < <(git ls-files -- 'bridge/*.c' 'bridge/*.h' 'gateway/src/*.c' 'gateway/src/*.h' \
                          'tests/*.c' 'tests/*.h' |
         grep -Ev '\.pb-c\.[ch]$|(^|/)generated/')
if ((${#files[@]} == 0)); then
  echo "check-format: no tracked C files found" >&2
  exit 2
fi

if ((fix)); then
  "$cf" --style=file -i "${files[@]}" || exit 1
  echo "format: reformatted ${#files[@]} files with $("$cf" --version)"
  exit 0
fi

differ=()
for f in "${files[@]}"; do
  # --dry-run --Werror exits non-zero on any replacement; the count tells how much drifted
  out=$("$cf" --style=file --dry-run --Werror "$f" 2>&1) && continue
  n=$(grep -c -- '-Wclang-format-violations' <<<"$out")
  differ+=("$f")
  echo "differs: $f ($n place(s))"
done

if ((${#differ[@]})); then
  echo "format: ${#differ[@]} of ${#files[@]} files differ from .clang-format ($version)"
  echo "fix with: scripts/check-format.sh --fix"
  exit 1
fi
echo "format: ${#files[@]} files match .clang-format ($version)"
