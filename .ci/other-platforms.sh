#!/usr/bin/env bash
# .ci/other-platforms.sh -- checks the backends that a Linux machine does not run natively,
# from one Debian 12 (bookworm) x86_64 machine, with Debian packages only:
#
#   (a) check + clippy   `cargo check --all-targets` and `cargo clippy --all-targets -- -D
#                        warnings` for macOS (x86_64, aarch64), FreeBSD and Windows, with
#                        Debian's rustc-web and -Zbuild-std: std is compiled from rust-web-src
#                        for each target (no SDK or linker is needed just to check).
#   (b) kqueue, run      the minimio test suite (lib unit tests, every tests/minimio_*.rs,
#                        minimio's doc tests) on Linux with the kqueue backend, built with
#                        RUSTFLAGS='--cfg minimio_libkqueue' against libkqueue (a user-space
#                        kqueue on top of epoll) from Debian experimental.
#   (c) IOCP, run        the whole test suite (unit, integration and doc tests; examples
#                        built) for x86_64-pc-windows-gnu, linked with mingw-w64 and run
#                        under Wine, headless.
#
# Usage:  .ci/other-platforms.sh         (from anywhere; it works in the repository root)
# Exit:   0 all passed, 1 a check or test failed, 2 setup problem (packages, network).
#
# Knobs (environment):
#   OTHER_PLATFORMS_SKIP_CHECK=1      skip (a)
#   OTHER_PLATFORMS_SKIP_LIBKQUEUE=1  skip (b)
#   OTHER_PLATFORMS_SKIP_WINDOWS=1    skip (c)
#   OTHER_PLATFORMS_SKIP_INSTALL=1    do not install system packages (libkqueue is still
#                                     fetched into OTHER_PLATFORMS_HOME if missing)
#   OTHER_PLATFORMS_TARGETS           targets for (a); default: the four named in (a)
#   OTHER_PLATFORMS_TARGET_DIR        build output; default ${CARGO_TARGET_DIR:-target}/other-platforms
#   OTHER_PLATFORMS_HOME              libkqueue, Wine prefix and shim DLL; default
#                                     ${XDG_CACHE_HOME:-~/.cache}/node-experiment-other-platforms
#   OTHER_PLATFORMS_TIMEOUT           seconds allowed for each test run of (b) and (c); default 900
#
# Everything is idempotent. System packages already installed are left alone; `apt-get
# update` runs once, and only when something is missing. libkqueue is fetched once into
# OTHER_PLATFORMS_HOME (with a private package list for experimental, which never touches
# the system's apt sources), and the Wine prefix is created once.
#
# Measured on a 2-core machine (other builds running): cold ~7.5 min (a: ~1 min per target,
# mostly building std; b: ~20 s; c: ~3.5 min incl. the Wine prefix), warm ~2 min.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

TARGETS=${OTHER_PLATFORMS_TARGETS:-"x86_64-apple-darwin aarch64-apple-darwin x86_64-unknown-freebsd x86_64-pc-windows-gnu"}
OUT=${OTHER_PLATFORMS_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/other-platforms}
CACHE=${OTHER_PLATFORMS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/node-experiment-other-platforms}
TEST_TIMEOUT=${OTHER_PLATFORMS_TIMEOUT:-900}
skip() { [ "${!1:-0}" = 1 ]; }

# Debian's toolchain by absolute path: rustup's proxies in ~/.cargo/bin come first in PATH
# and are the crate's normal toolchain, used as such in (b).
DEB_CARGO=/usr/bin/cargo
DEB_RUSTC=/usr/bin/rustc
DEB_RUSTDOC=/usr/bin/rustdoc
DEB_CLIPPY=/usr/bin/cargo-clippy
WINE=/usr/lib/wine/wine64 # Debian's wine64 does not put wine64 on PATH
WINESERVER=/usr/lib/wine/wineserver
WIN_TARGET=x86_64-pc-windows-gnu

# ---------------------------------------------------------------- reporting
RESULTS=()
FAILED=0
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
now() { date +%s; }
# result PASS|FAIL|SKIP <what> <start time or -> [note]
result() {
    local took="" line
    [ "$3" != - ] && took="$(($(now) - $3)) s"
    line=$(printf '%-4s  %-58s %7s  %s' "$1" "$2" "$took" "${4:-}")
    RESULTS+=("$line")
    echo "$line"
    [ "$1" = FAIL ] && FAILED=1
    return 0
}
finish() {
    echo
    echo "================ other platforms ================"
    printf '%s\n' "${RESULTS[@]}"
    echo "================================================="
    if [ "${1:-}" = setup ]; then
        echo "RESULT: SETUP PROBLEM"
        exit 2
    fi
    if [ "$FAILED" = 0 ]; then echo "RESULT: PASS"; exit 0; fi
    echo "RESULT: FAIL"
    exit 1
}

[ -f Cargo.toml ] || { echo "no Cargo.toml in $PWD" >&2; exit 2; }
SUDO=()
[ "$(id -u)" != 0 ] && SUDO=(sudo)
mkdir -p "$OUT" "$CACHE"

# ---------------------------------------------------------------- system packages
need_std_build=0
pkgs=()
want() { for p; do [[ " ${pkgs[*]} " == *" $p "* ]] || pkgs+=("$p"); done; }
if ! skip OTHER_PLATFORMS_SKIP_CHECK; then
    need_std_build=1
    want rustc-web cargo-web rust-web-src rust-web-clippy
fi
if ! skip OTHER_PLATFORMS_SKIP_WINDOWS; then
    need_std_build=1
    want rustc-web cargo-web rust-web-src gcc-mingw-w64-x86-64-win32 wine64
fi
if [ ${#pkgs[@]} -gt 0 ] && ! skip OTHER_PLATFORMS_SKIP_INSTALL; then
    step "system packages: ${pkgs[*]}"
    t=$(now)
    missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} = 0 ]; then
        result PASS "packages (already installed)" "$t"
    else
        # rustc-web conflicts with Debian's own rustc 1.63; apt removes that one if present.
        echo "installing: ${missing[*]}"
        if "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends "${missing[@]}" >/dev/null; then
            result PASS "packages (installed ${missing[*]})" "$t"
        else
            result FAIL "packages (apt-get install ${missing[*]})" "$t"
            finish setup
        fi
    fi
fi

# Debian's compiler with -Zbuild-std, for (a) and (c).
STD_BUILD=()
if [ "$need_std_build" = 1 ]; then
    for f in "$DEB_CARGO" "$DEB_RUSTC"; do
        [ -x "$f" ] || { result FAIL "$f present (install rustc-web cargo-web)" -; finish setup; }
    done
    rustc_version=$("$DEB_RUSTC" --version | awk '{print $2}')
    std_src=$(readlink -f "$("$DEB_RUSTC" --print sysroot)/lib/rustlib/src/rust")
    case "$std_src" in
        */rustc-"$rustc_version") ;;
        *) result FAIL "rust-web-src matches rustc $rustc_version ($std_src)" -; finish setup ;;
    esac
    [ -d "$std_src/library/vendor" ] || { result FAIL "std sources in $std_src/library" -; finish setup; }
    echo "Debian toolchain: $("$DEB_RUSTC" --version); std from $std_src"
    # -Zbuild-std is unstable, hence RUSTC_BOOTSTRAP. std's own dependencies come from the
    # copy Debian vendors next to its sources, so no registry is contacted (the crate
    # itself has no dependencies).
    STD_BUILD=(env -u RUSTC_WRAPPER -u RUSTC_WORKSPACE_WRAPPER -u RUSTFLAGS -u RUSTDOCFLAGS
        RUSTC="$DEB_RUSTC" RUSTDOC="$DEB_RUSTDOC" RUSTC_BOOTSTRAP=1)
    STD_BUILD_ARGS=(-Zbuild-std --offline
        --config 'source.crates-io.replace-with="debian-std-vendor"'
        --config "source.debian-std-vendor.directory=\"$std_src/library/vendor\"")
fi

# ---------------------------------------------------------------- (a) check + clippy
if skip OTHER_PLATFORMS_SKIP_CHECK; then
    result SKIP "(a) check + clippy" - "OTHER_PLATFORMS_SKIP_CHECK=1"
else
    for target in $TARGETS; do
        log="$OUT/check-$target.log"
        step "(a) cargo check --all-targets --target $target"
        t=$(now)
        # std is built once per target (about a minute) and shared by check and clippy;
        # debug info is of no use to a check.
        if CARGO_PROFILE_DEV_DEBUG=0 "${STD_BUILD[@]}" "$DEB_CARGO" check "${STD_BUILD_ARGS[@]}" \
            --target "$target" --all-targets --target-dir "$OUT/check" 2>&1 | tee "$log"; then
            result PASS "(a) check  $target" "$t"
        else
            result FAIL "(a) check  $target" "$t" "log: $log"
            continue
        fi
        lints=(-D warnings)
        # rust-clippy#17566: on targets without native thread-locals (windows-gnu), clippy
        # 1.96 flags every `thread_local!` as "can be made `const`", even one that already
        # is (`= const { Cell::new(0) }`): std now expands it to a non-const init fn there.
        # Nothing in the code can satisfy it, so it is allowed for that target only.
        [ "$target" = x86_64-pc-windows-gnu ] && lints+=(-A clippy::missing_const_for_thread_local)
        step "(a) cargo clippy --all-targets --target $target -- ${lints[*]}"
        t=$(now)
        # Debian's cargo-clippy directly: `cargo clippy` would find rustup's in ~/.cargo/bin.
        if CARGO_PROFILE_DEV_DEBUG=0 "${STD_BUILD[@]}" CARGO="$DEB_CARGO" "$DEB_CLIPPY" clippy \
            "${STD_BUILD_ARGS[@]}" --target "$target" --all-targets --target-dir "$OUT/check" \
            -- "${lints[@]}" 2>&1 | tee -a "$log"; then
            result PASS "(a) clippy $target" "$t"
        else
            result FAIL "(a) clippy $target" "$t" "log: $log"
        fi
    done
fi

# ---------------------------------------------------------------- (b) kqueue via libkqueue
fetch_libkqueue() {
    # Only Debian experimental packages libkqueue for amd64 (libkqueue0t64 and libkqueue-dev
    # 2.3.1; they need libc6 >= 2.34, which bookworm has). They are downloaded with a private
    # apt configuration and unpacked with `dpkg -x` into $CACHE: the system's apt sources
    # and installed packages are left alone.
    local apt_dir="$CACHE/apt-experimental" mirror
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$KQ_ROOT"
    # The Debian mirror this machine already uses (the suite without a '-': not -updates).
    mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
        awk '$2 !~ /-/ { print $1; exit }')
    [ -n "$mirror" ] || mirror=http://deb.debian.org/debian/
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror%/} experimental main" \
        >"$apt_dir/sources.list"
    local opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
    # As root, apt drops to the _apt user for downloads, which cannot write here.
    [ "$(id -u)" = 0 ] && opts+=(-o APT::Sandbox::User=root)
    rm -f "$apt_dir"/*.deb
    apt-get "${opts[@]}" update -qq &&
        (cd "$apt_dir" && apt-get "${opts[@]}" download -qq libkqueue0t64 libkqueue-dev) &&
        for deb in "$apt_dir"/*.deb; do dpkg -x "$deb" "$KQ_ROOT" || return 1; done
}

if skip OTHER_PLATFORMS_SKIP_LIBKQUEUE; then
    result SKIP "(b) kqueue backend on libkqueue" - "OTHER_PLATFORMS_SKIP_LIBKQUEUE=1"
else
    KQ_ROOT="$CACHE/libkqueue"
    KQ_LIB="$KQ_ROOT/usr/lib/x86_64-linux-gnu"
    if [ ! -e "$KQ_LIB/libkqueue.so" ]; then
        step "(b) fetch libkqueue from Debian experimental into $KQ_ROOT"
        t=$(now)
        if fetch_libkqueue && [ -e "$KQ_LIB/libkqueue.so" ]; then
            result PASS "(b) fetch libkqueue" "$t"
        else
            result FAIL "(b) fetch libkqueue" "$t"
            finish setup
        fi
    fi
    kq_version=$(sed -n 's/^Version: *//p' "$KQ_LIB/pkgconfig/libkqueue.pc" 2>/dev/null)
    # RUSTFLAGS is exactly the cfg; the linker finds libkqueue through LIBRARY_PATH and the
    # tests load it through LD_LIBRARY_PATH. Own target dir: other RUSTFLAGS would rebuild.
    kq_env=(env RUSTFLAGS='--cfg minimio_libkqueue' RUSTDOCFLAGS='--cfg minimio_libkqueue'
        LIBRARY_PATH="$KQ_LIB${LIBRARY_PATH:+:$LIBRARY_PATH}"
        LD_LIBRARY_PATH="$KQ_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
    step "(b) cargo test --lib --test 'minimio_*' with the kqueue backend (libkqueue $kq_version)"
    t=$(now)
    if timeout --kill-after=15 "$TEST_TIMEOUT" "${kq_env[@]}" cargo test --no-fail-fast \
        --target-dir "$OUT/libkqueue" --lib --test 'minimio_*'; then
        result PASS "(b) libkqueue: lib unit tests + tests/minimio_*.rs" "$t"
    else
        result FAIL "(b) libkqueue: lib unit tests + tests/minimio_*.rs" "$t"
    fi
    step "(b) cargo test --doc minimio with the kqueue backend"
    t=$(now)
    if timeout --kill-after=15 "$TEST_TIMEOUT" "${kq_env[@]}" cargo test --no-fail-fast \
        --target-dir "$OUT/libkqueue" --doc minimio; then
        result PASS "(b) libkqueue: minimio doc tests" "$t"
    else
        result FAIL "(b) libkqueue: minimio doc tests" "$t"
    fi
fi

# ---------------------------------------------------------------- (c) Windows under Wine
prepare_wine() {
    export WINEPREFIX="$CACHE/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
    unset DISPLAY WAYLAND_DISPLAY # headless: no window, no prompt
    [ -x "$WINE" ] || { echo "$WINE missing (install wine64)"; return 1; }
    command -v x86_64-w64-mingw32-gcc >/dev/null || { echo "mingw-w64 gcc missing"; return 1; }
    if [ ! -f "$WINEPREFIX/system.reg" ]; then
        echo "creating the Wine prefix $WINEPREFIX ($("$WINE" --version))"
        timeout 300 "$WINE" wineboot --init >/dev/null 2>&1 && timeout 120 "$WINESERVER" -w || return 1
    fi
    # Rust's std (1.78 and later) imports ProcessPrng from bcryptprimitives.dll, which Wine 8
    # (bookworm) lacks: every test program would die at start (status 0xc0000135). A
    # one-function stand-in, built with mingw, forwards to RtlGenRandom.
    local dll="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
    if [ ! -e /usr/lib/x86_64-linux-gnu/wine/x86_64-windows/bcryptprimitives.dll ] && [ ! -f "$dll" ]; then
        echo "building the bcryptprimitives.dll stand-in"
        mkdir -p "$CACHE/shim"
        cat >"$CACHE/shim/shim.c" <<'EOF'
#include <windows.h>
#define SystemFunction036 NTAPI SystemFunction036
#include <ntsecapi.h>
#undef SystemFunction036
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk)) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
EOF
        printf 'LIBRARY bcryptprimitives.dll\nEXPORTS\n    ProcessPrng\n' >"$CACHE/shim/shim.def"
        x86_64-w64-mingw32-gcc -shared -O2 -s -o "$CACHE/shim/bcryptprimitives.dll" \
            "$CACHE/shim/shim.c" "$CACHE/shim/shim.def" -ladvapi32 &&
            cp "$CACHE/shim/bcryptprimitives.dll" "$dll" || return 1
    fi
}

if skip OTHER_PLATFORMS_SKIP_WINDOWS; then
    result SKIP "(c) Windows tests under Wine" - "OTHER_PLATFORMS_SKIP_WINDOWS=1"
else
    step "(c) Wine prefix and runner"
    t=$(now)
    if prepare_wine; then
        result PASS "(c) Wine ready ($("$WINE" --version))" "$t"
    else
        result FAIL "(c) Wine ready" "$t"
        finish setup
    fi
    step "(c) cargo test --target $WIN_TARGET (run under Wine)"
    t=$(now)
    # No debug info: std for Windows builds faster, and a failing test still prints its
    # message (only the backtrace would lose line numbers).
    CARGO_PROFILE_DEV_DEBUG=0 \
        CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc \
        CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$WINE" \
        timeout --kill-after=15 "$TEST_TIMEOUT" "${STD_BUILD[@]}" "$DEB_CARGO" test \
        "${STD_BUILD_ARGS[@]}" --target "$WIN_TARGET" --target-dir "$OUT/windows" --no-fail-fast
    rc=$?
    case $rc in
        0) result PASS "(c) Windows: all tests under Wine" "$t" ;;
        124 | 137) result FAIL "(c) Windows: all tests under Wine" "$t" "timed out after ${TEST_TIMEOUT}s" ;;
        *) result FAIL "(c) Windows: all tests under Wine" "$t" "cargo exit $rc" ;;
    esac
    timeout 30 "$WINESERVER" -k >/dev/null 2>&1 || true # stop this prefix's wineserver
fi

finish
