#!/bin/bash
# A man page renders without groff warnings and documents every long option (--name) its tool's
# --help prints, and, for the daemon, every -o option (an indented "name=" or "name" heading a
# line of the help's option list).
#
#   check_page.sh PAGE [TOOL]         (no TOOL: only the rendering is checked, e.g. pmemfs.conf.5)
set -u
page=$1
tool=${2:-}
failures=0
command -v man >/dev/null || { echo "FAIL: man is missing (apt-get install man-db groff-base)"; exit 1; }

warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
if [ -n "$warnings" ]; then
  echo "FAIL: $page renders with warnings:"
  echo "$warnings" | sed 's/^/  /'
  failures=$((failures + 1))
else
  echo "ok: $page renders without warnings"
fi
# The text as a reader sees it, without hyphenation or justification, one long line per
# paragraph (so that an option is never split).
text=$(MANWIDTH=1000 man --nh --nj -l "$page" 2>/dev/null)
[ -n "$text" ] || { echo "FAIL: $page renders empty"; failures=$((failures + 1)); }
grep -q "^NAME" <<<"$text" || { echo "FAIL: $page has no NAME section"; failures=$((failures + 1)); }

if [ -n "$tool" ]; then
  help=$("$tool" --help 2>&1) || { echo "FAIL: $tool --help exits non-zero"; exit 1; }
  options=$(grep -oE -- '--[a-z][a-z0-9-]*' <<<"$help" | sort -u)
  # The daemon's -o options: "  mode=copy|direct|pages   ..." or "  relatime|noatime|..."
  options+=" "$(grep -oE '^  [a-z_]+(\|[a-z_]+)*(=| )' <<<"$help" | tr -d ' =' | tr '|' '\n' |
                sort -u)
  count=0
  for o in $options; do
    count=$((count + 1))
    if ! grep -qF -- "$o" <<<"$text"; then
      echo "FAIL: $(basename "$tool") --help prints '$o', which $(basename "$page") does not mention"
      failures=$((failures + 1))
    fi
  done
  echo "checked $count options of $(basename "$tool") --help against $(basename "$page")"
  [ "$count" -gt 0 ] || { echo "FAIL: no options found in --help"; failures=$((failures + 1)); }
fi
[ "$failures" -eq 0 ] && echo PASS || echo "$failures failure(s)"
[ "$failures" -eq 0 ]
