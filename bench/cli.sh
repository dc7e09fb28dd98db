# bench/cli.sh: the command line that bench/profile.sh and bench/write_path.sh share, sourced
# right after `set -euo pipefail`:
#
#   build="" mode=direct out="" ...
#   while [ $# -gt 0 ]; do
#     case "$1" in
#       --job) job="${2:?}"; shift 2 ;;            # the script's own options first
#       *) common_option "$@"; shift 2 ;;          # --build, --mode, --out, --help, or die
#     esac
#   done
#   check_build_and_mode; check_positive --seconds "$seconds"

# die MESSAGE: "SCRIPT: MESSAGE" on stderr, exit status 2.
die() { echo "$(basename "$0"): $*" >&2; exit 2; }

# common_option OPTION [VALUE]: sets build, mode or out from --build, --mode or --out VALUE;
# --help prints the script's header comment and exits 0; anything else is an unknown option.
# shellcheck disable=SC2034 # build, mode and out are the sourcing script's
common_option() {
  case "$1" in
    --build) build="${2:?}" ;;
    --mode) mode="${2:?}" ;;
    --out) out="${2:?}" ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (try --help)" ;;
  esac
}

# check_build_and_mode: $build holds pmemfs and mkpmemfs, and $mode is one of the three modes.
check_build_and_mode() {
  [ -x "$build/fs/pmemfs" ] && [ -x "$build/tools/mkpmemfs" ] ||
    die "--build DIR: a build with pmemfs and mkpmemfs"
  case "$mode" in direct|copy|pages) ;; *) die "--mode: direct, copy or pages, not $mode" ;; esac
}

# check_positive OPTION VALUE: VALUE is a positive whole number.
check_positive() {
  [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1: a positive whole number, not $2"
}
