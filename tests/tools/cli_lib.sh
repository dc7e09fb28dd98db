# cli_lib.sh: what the shell tests of the tools' executables (tools_cli.sh, tune_cli.sh) share.
# A failed check is counted, not fatal, so that one run lists every failure; `finish` ends the
# test with PASS or the count, and its exit status.
#
#   source "$(dirname "$0")/cli_lib.sh" NAME   # $dir: a new scratch directory
#                                              # /dev/shm/NAME.XXXXXX, removed at exit
set -u
dir=$(mktemp -d "/dev/shm/${1:?usage: source cli_lib.sh NAME}.XXXXXX")
trap 'rm -rf "$dir"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
# run CODE DESCRIPTION COMMAND...: the command's exit status must be CODE; out/err kept.
run() {
  local want=$1 what=$2
  shift 2
  "$@" >"$dir/out" 2>"$dir/err"
  local got=$?
  if [ "$got" != "$want" ]; then
    fail "$what: exit $got, expected $want"
    sed 's/^/  stdout: /' "$dir/out" | head -20
    sed 's/^/  stderr: /' "$dir/err" | head -20
  else
    ok "$what (exit $got)"
  fi
}
# json EXPR: evaluates the Python expression EXPR with j = the JSON object in $dir/out.
json() {
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
    "$dir/out" "$1" 2>"$dir/json.err" || { fail "JSON check: $1"; sed 's/^/  /' "$dir/out" "$dir/json.err" | head -20; }
}
# finish: PASS, or how many checks failed; the test's exit status (the last command of a test).
finish() {
  [ "$failures" -eq 0 ] && echo PASS || echo "$failures failure(s)"
  [ "$failures" -eq 0 ]
}
