#!/usr/bin/env bash
# The layering the README promises, checked on every include line:
#   fhir <- mappings <- gateway   (no arrow back; fhir/ and mappings/ do no I/O)
# and inside gateway/, rooms only include rooms listed before them:
#   base, log, store, config, transport, ingest, delivery, reports, server, cli
# A new include that breaks the order fails here with file:line.
set -euo pipefail
cd "${INLOOP_ROOT:-$(dirname "$0")/../..}"

gateway_order=(base log store config transport ingest delivery reports server cli)
declare -A rank
for i in "${!gateway_order[@]}"; do rank[${gateway_order[$i]}]=$i; done

failures=()
fail() { failures+=("$1"); }

# fhir/ includes nothing of mappings/ or gateway/; mappings/ nothing of gateway/.
while IFS=: read -r file line text; do
  fail "$file:$line: fhir/ must not include ${text#*#include }"
done < <(grep -rn --include='*.h' --include='*.cpp' -E '#include "(mappings|gateway)/' fhir || true)
while IFS=: read -r file line text; do
  fail "$file:$line: mappings/ must not include ${text#*#include }"
done < <(grep -rn --include='*.h' --include='*.cpp' -E '#include "gateway/' mappings || true)

# The pure layers open no file, socket, thread or database.
io_headers='<(fstream|iostream|filesystem|thread|mutex|sqlite3\.h|unistd\.h|sys/[a-z_]+\.h)>|<Poco/'
while IFS=: read -r file line text; do
  fail "$file:$line: pure layer includes an I/O header: ${text#*#include }"
done < <(grep -rn --include='*.h' --include='*.cpp' -E "#include ($io_headers)" fhir mappings || true)

# Every gateway source lives in a known room, and includes only earlier rooms.
while IFS= read -r file; do
  room=$(cut -d/ -f2 <<<"$file")
  if [ -z "${rank[$room]+x}" ]; then
    fail "$file: gateway/$room/ is not a room listed in tests/scripts/layering.sh"
    continue
  fi
  while IFS=: read -r line text; do
    target=$(sed -E 's|.*#include "gateway/([a-z_]+)/.*|\1|' <<<"$text")
    [ "$target" = "$room" ] && continue
    if [ -z "${rank[$target]+x}" ] || [ "${rank[$target]}" -gt "${rank[$room]}" ]; then
      fail "$file:$line: gateway/$room/ must not include gateway/$target/ (order: ${gateway_order[*]})"
    fi
  done < <(grep -n -E '#include "gateway/[a-z_]+/' "$file" || true)
done < <(find gateway -mindepth 2 \( -name '*.h' -o -name '*.cpp' \) | sort)

# No source file sits loose at the top of gateway/ or mappings/ (rooms only).
while IFS= read -r file; do
  case "$file" in
    mappings/conventions.h) ;;
    *) fail "$file: sources belong in a room (a subdirectory), see README Layout" ;;
  esac
done < <(find gateway mappings -maxdepth 1 \( -name '*.h' -o -name '*.cpp' \) | sort)

if [ ${#failures[@]} -gt 0 ]; then
  printf '%s\n' "${failures[@]}"
  echo "layering: 0 passed, 1 failed"
  exit 1
fi
echo "layering: 1 passed, 0 failed"
