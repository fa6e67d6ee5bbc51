#!/usr/bin/env bash
# npm run test:asan — the whole uvu suite against the addon built with
# AddressSanitizer and UndefinedBehaviorSanitizer.
#
# The working tree is copied to a temporary directory (build/Release of the
# checkout is left alone), the addon is built there with
# -fsanitize=address,undefined through the CFLAGS/CXXFLAGS/LDFLAGS node-gyp's
# make generator honours, and the suite runs four times as `npm test` does
# (io_uring as allowed, then with io_uring blocked by seccomp, each inline and
# with threads: 2) with libasan preloaded into node, since node itself is not
# instrumented. Every sanitizer report, in
# this process or any child (fixtures, workers), goes to a log file; any log
# file, or any failing test, fails the run.
#
# Needs gcc/g++ with libasan and libubsan (Debian 12: gcc 12, packages libasan8
# and libubsan1, pulled in by g++), make, python3 and liburing-dev, like the
# normal build. Extra arguments narrow the test file pattern, e.g.
#   bash scripts/test-asan.sh '^70\.'
# ASAN_KEEP=1 keeps the temporary directory.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pattern=${1:-'^\d\d\..*\.js$'}
cc=${CC:-gcc}
cxx=${CXX:-g++}

fail() { echo "test-asan: $*" >&2; exit 2; }

command -v "$cc" >/dev/null && command -v "$cxx" >/dev/null || fail "no $cc/$cxx: apt-get install -y g++ make python3"
libasan=$("$cc" -print-file-name=libasan.so)
libubsan=$("$cc" -print-file-name=libubsan.so)
[[ "$libasan" == /* && -e "$libasan" ]] || fail "libasan not found for $cc: apt-get install -y libasan8 (Debian 12; the package matching your gcc elsewhere)"
[[ "$libubsan" == /* && -e "$libubsan" ]] || fail "libubsan not found for $cc: apt-get install -y libubsan1"
[[ -d "$root/node_modules" ]] || fail "run npm install (or npm ci) first"
# The resolved shared objects, so LD_PRELOAD names a real library, not a linker script.
libasan=$(readlink -f "$libasan")
libubsan=$(readlink -f "$libubsan")

work=$(mktemp -d /tmp/sendgroup-asan.XXXXXX)
logs="$work/sanitizer-logs"
cleanup() { [[ "${ASAN_KEEP:-0}" == 1 ]] && echo "test-asan: kept $work" || rm -rf "$work"; }
trap cleanup EXIT
# Readable by others: the RLIMIT_MEMLOCK test runs a child as nobody.
chmod 755 "$work"
mkdir -p "$logs"
chmod 777 "$logs"

echo "=== copying the working tree to $work"
tar -C "$root" --exclude=./node_modules --exclude=./build --exclude=./coverage --exclude=./.git \
  --exclude=./prebuilds --exclude=./bench/.snapshot --exclude=./bench/results -cf - . | tar -C "$work" -xf - || fail "copy failed"
ln -s "$root/node_modules" "$work/node_modules"

sanitize='-fsanitize=address,undefined -fno-omit-frame-pointer -g'
echo "=== building the addon with $sanitize"
(
  cd "$work" &&
  CC="$cc" CXX="$cxx" CFLAGS="$sanitize" CXXFLAGS="$sanitize" LDFLAGS="$sanitize" \
    npx --no-install node-gyp rebuild >"$work/build.log" 2>&1
) || { tail -40 "$work/build.log"; fail "the sanitizer build failed (log above)"; }
addon="$work/build/Release/sendgroup.node"
# (grep -q would exit at the first match and, under pipefail, fail ldd with SIGPIPE.)
ldd "$addon" | grep libasan >/dev/null || fail "$addon does not link libasan: the flags did not reach the build"
# (esm-wrapper.js loads the addon to list its exports: libasan must come first.)
(cd "$work" && LD_PRELOAD="$libasan" ASAN_OPTIONS=detect_leaks=0 npm run --silent build:ts >"$work/build-ts.log" 2>&1) ||
  { tail -20 "$work/build-ts.log"; fail "the TypeScript build failed"; }

# io_uring blocked by seccomp, as npm test's second and fourth passes do.
launcher=""
if [[ -f "$work/test/launcher/deny.c" ]]; then
  launcher="$work/build/deny"
  "$cc" -O2 -Wall -o "$launcher" "$work/test/launcher/deny.c" || fail "cannot build the seccomp launcher"
fi

# detect_leaks=0: V8 and Node leave memory behind at exit by design.
# SANITIZE_CONTINUE=1 lets UBSan report and go on (to see every finding in
# one run); the run still fails if anything was reported.
halt=1
[[ "${SANITIZE_CONTINUE:-0}" == 1 ]] && halt=0
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:allow_user_segv_handler=1:log_path=$logs/asan:log_exe_name=1"
export UBSAN_OPTIONS="halt_on_error=$halt:print_stacktrace=1:log_path=$logs/ubsan:log_exe_name=1"
export LD_PRELOAD="$libasan $libubsan"

status=0
run_pass() {
  local title=$1 name=$2 log=$3; shift 3
  echo
  echo "=== $title"
  # Reports that bypass log_path (UBSan next to ASan writes to stderr) are
  # caught in the output.
  (cd "$work" && SENDGROUP_TEST_PASS="$name" "$@" node "$work/node_modules/uvu/bin.js" test "$pattern") 2>&1 | tee "$work/pass-$log.log"
  [[ ${PIPESTATUS[0]} == 0 ]] || status=1
}
# The passes npm test runs (scripts/test.js): each backend inline and on
# two native threads; there with inlineBelow at its default (npm test sends
# every call to the threads), so that small calls beside the threads, and
# the switching between the two, run under ASan too.
for threads in 0 2; do
  run_pass "io_uring as this kernel allows, threads: $threads (ASan+UBSan)" normal "normal-$threads" env SENDGROUP_THREADS=$threads
  if [[ -n "$launcher" ]]; then
    run_pass "io_uring blocked by seccomp, sendmmsg backend, threads: $threads (ASan+UBSan)" blocked "blocked-$threads" \
      env SENDGROUP_THREADS=$threads "$launcher" io_uring
  fi
done
unset LD_PRELOAD

reports=$(find "$logs" -type f | sort)
if [[ -n "$reports" ]]; then
  echo
  echo "=== sanitizer report files"
  for file in $reports; do
    echo "--- $file"
    cat "$file"
  done
fi
marks='runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer'
inline=$(cat "$work"/pass-*.log | grep -Ec "$marks")
found=$(( $(echo -n "$reports" | grep -c .) + inline ))
if (( found )); then
  status=1
  echo
  echo "=== findings (unique locations)"
  { cat "$work"/pass-*.log; [[ -n "$reports" ]] && cat $reports; } | sed 's/\x1b\[[0-9;]*m//g' | grep -Eo '[^ ]+\.(cc|h):[0-9]+:[0-9]+: runtime error: .*|ERROR: AddressSanitizer: [^ ]+.*' | sed 's/0x[0-9a-f]*/0x.../g' | sort | uniq -c
fi

echo
if [[ $status == 0 ]]; then
  echo "test-asan: PASS (no AddressSanitizer or UndefinedBehaviorSanitizer report, every test passed)"
elif (( found )); then
  echo "test-asan: FAIL ($found sanitizer report(s))"
else
  echo "test-asan: FAIL (no sanitizer report, but tests failed)"
fi
exit $status
