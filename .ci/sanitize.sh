#!/usr/bin/env bash
# .ci/sanitize.sh -- the whole test suite (unit, integration and doc-tests) under
# AddressSanitizer with LeakSanitizer, on the nightly toolchain the machine image ships.
#
# What it proves: no out-of-bounds access, use after free, double free or leak in any test,
# including the FFI (epoll, eventfd), the cross-thread hand-offs and the tests' own FFI.
# std is the prebuilt one (not instrumented: that needs rust-src and -Zbuild-std, which
# cannot be downloaded here); ASan still intercepts every malloc/free, so leaks and misuse
# of heap memory anywhere are caught, and our own crate and tests are instrumented.
#
# Failure: any test failure, or any sanitizer report. Reports go to files (log_path), so
# that a report from a child process whose output a test captures is not lost; the
# script fails if any report file appears.
#
# Knobs: SANITIZE_TARGET_DIR (default target/asan), SANITIZE_TEST_ARGS (extra args for
# `cargo test`, e.g. "--test reliability_api"), SANITIZE_TIMEOUT seconds (default 1500).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-gnu
TARGET_DIR=${SANITIZE_TARGET_DIR:-$PWD/target/asan}
TIMEOUT=${SANITIZE_TIMEOUT:-1500}

# 1. The toolchain: nightly, with the ASan runtime for this target. Nothing is downloaded.
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "sanitize: no nightly toolchain installed (rustup toolchain list); -Zsanitizer needs one" >&2
    exit 2
fi
sysroot=$(rustc +nightly --print sysroot)
if ! ls "$sysroot/lib/rustlib/$TARGET/lib/"*rt.asan.a >/dev/null 2>&1; then
    echo "sanitize: the nightly toolchain has no AddressSanitizer runtime for $TARGET" >&2
    exit 2
fi
echo "sanitize: $(rustc +nightly --version), target $TARGET, target dir $TARGET_DIR"

# 2. Run. RUSTDOCFLAGS too: without it every doc-test fails to link against the
#    instrumented crate. detect_leaks=1 is LeakSanitizer (the default on x86_64 Linux,
#    stated so that nobody turns it off by accident).
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
export RUSTFLAGS="-Zsanitizer=address${RUSTFLAGS:+ $RUSTFLAGS}"
export RUSTDOCFLAGS="-Zsanitizer=address${RUSTDOCFLAGS:+ $RUSTDOCFLAGS}"
export ASAN_OPTIONS="detect_leaks=1:log_path=$logs/asan:strict_string_checks=1:detect_stack_use_after_return=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="report_objects=1${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# Tests that check memory bounds in RSS read this: ASan's quarantine and redzones make RSS
# meaningless as a bound (they also detect ASan by its address space on their own).
export NODE_EXPERIMENT_SANITIZER=address
start=$(date +%s)
rc=0
# shellcheck disable=SC2086
timeout --kill-after=15 "$TIMEOUT" cargo +nightly test --target "$TARGET" \
    --target-dir "$TARGET_DIR" --no-fail-fast ${SANITIZE_TEST_ARGS:-} || rc=$?
took=$(( $(date +%s) - start ))

# 3. Reports.
reports=$(find "$logs" -type f | sort)
if [ -n "$reports" ]; then
    echo
    echo "sanitize: sanitizer reports:"
    for f in $reports; do echo "---- $f"; cat "$f"; done
    [ "$rc" = 0 ] && rc=1
fi
case $rc in
    0) echo "sanitize: clean (ASan + LSan), ${took} s" ;;
    124|137) echo "sanitize: timed out after ${TIMEOUT} s" ;;
    *) echo "sanitize: FAILED (exit $rc), ${took} s" ;;
esac
exit "$rc"
