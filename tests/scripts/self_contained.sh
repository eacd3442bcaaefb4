#!/usr/bin/env bash
# The repository is self-contained: a user clones it alone, so no tracked file
# (source, test, script, config, doc) may read or name a folder beside the
# checkout (the steering folder of the team that wrote it, or any sibling
# reached through the source root) or an absolute path of one machine.
# Fails with every offending file:line.
#
#   INLOOP_ROOT=DIR bash tests/scripts/self_contained.sh
set -euo pipefail
root="${INLOOP_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$root"

# The patterns are assembled from pieces, and their comments avoid the forms
# they look for, so that this file passes its own check.
dotdot='\.\.'
patterns=(
  "${dotdot}/shared"                               # the team's sibling folder
  "shared/(record-format|domain|hooks)"            # its sub-folders, however reached
  "SOURCE_DIR[)]? *[/+] *\"/?${dotdot}"             # the source dir's parent (C++, CMake)
  "INLOOP_ROOT}?/${dotdot}"                         # the repository root's parent (scripts)
  "CMAKE_(CURRENT_)?SOURCE_DIR}/${dotdot}"          # the CMake source dir's parent
  "(^|[^A-Za-z0-9_.~-])/(work|home|root|Users|mnt)/[A-Za-z0-9_.-]"  # absolute machine paths
)

# git grep reads the tracked files (or, outside a checkout, grep -r the tree).
search() {
  if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$root" grep -InE -e "$1" -- . ':!*package-lock.json' || true
  else
    grep -rInE --exclude-dir=node_modules --exclude-dir='build*' --exclude-dir=.git \
      --exclude-dir=var --exclude=package-lock.json -e "$1" . || true
  fi
}

failed=0
passed=0
for pattern in "${patterns[@]}"; do
  hits=$(search "$pattern")
  if [ -n "$hits" ]; then
    failed=$((failed + 1))
    echo "self-contained: files reach outside the repository ($pattern):"
    printf '%s\n' "$hits" | head -20
  else
    passed=$((passed + 1))
  fi
done
echo "self-contained: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
