#!/usr/bin/env bash
# .ci/render-timeline.sh -- draw the example's timeline and open it in a real browser.
#
# Runs `cargo run --example javascript` with NODE_EXPERIMENT_TIMELINE (and
# NODE_EXPERIMENT_TRACE) set, then loads the SVG in headless Chromium (Debian's
# `chromium` package, installed if missing) and checks that:
#   1. the document loaded without errors: Chromium's DOM has the <svg> root and no
#      <parsererror> (what it shows for a malformed file), and the console is silent;
#   2. Chromium rendered it to a PNG and exited 0;
#   3. the picture is not blank: the PNG (decoded with python3's zlib, no other tools)
#      has the SVG's size, many colours, coloured boxes and dark text.
# The SVG, the trace, the PNG and Chromium's logs are left in target/timeline/ (under
# $CARGO_TARGET_DIR if set) for a human, or a CI artifact, to look at.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "render-timeline: $*" >&2; exit 1; }

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
if ! command -v chromium >/dev/null; then
    echo "installing Debian's chromium"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
if ! command -v python3 >/dev/null; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3 >/dev/null
fi
chromium --version

out="$(realpath -m "${CARGO_TARGET_DIR:-target}")/timeline"
rm -rf "$out" && mkdir -p "$out"
svg="$out/javascript-timeline.svg"
png="$out/javascript-timeline.png"

NODE_EXPERIMENT_TIMELINE="$svg" NODE_EXPERIMENT_TRACE="$out/javascript-trace.json" \
    timeout 120 cargo run -q --example javascript >"$out/stdout.txt" 2>"$out/stderr.txt" \
    || fail "the example failed; see $out/stderr.txt"
[ -s "$svg" ] || fail "the example wrote no $svg"
grep -q "^main " "$out/stderr.txt" || fail "the example printed no text timeline"

# The picture's size, from the root element's attributes.
width=$(sed -n 's/.*<svg [^>]*width="\([0-9]*\)[."].*/\1/p' "$svg" | head -n 1)
height=$(sed -n 's/.*<svg [^>]*height="\([0-9]*\)[."].*/\1/p' "$svg" | head -n 1)
[ -n "$width" ] && [ -n "$height" ] || fail "no width/height on the <svg> root"

# A fresh profile, no network, no first-run or background work: a quiet, repeatable run.
chrome() {
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update \
        --disable-sync --user-data-dir="$(mktemp -d)" --hide-scrollbars \
        --enable-logging=stderr --v=0 "$@"
}

# 1. Loaded without errors.
chrome --dump-dom "file://$svg" >"$out/dom.html" 2>"$out/chromium-dom.log" \
    || fail "chromium --dump-dom failed; see $out/chromium-dom.log"
grep -q "<svg" "$out/dom.html" || fail "Chromium's DOM has no <svg>: see $out/dom.html"
if grep -qi "parsererror" "$out/dom.html"; then
    fail "Chromium could not parse the SVG: $(grep -io 'error on line[^<]*' "$out/dom.html" | head -n 1)"
fi

# 2. Rendered.
chrome --screenshot="$png" --window-size="$width,$height" "file://$svg" \
    >"$out/chromium-screenshot.log" 2>&1 \
    || fail "chromium --screenshot failed; see $out/chromium-screenshot.log"
[ -s "$png" ] || fail "chromium wrote no PNG"
for log in "$out/chromium-dom.log" "$out/chromium-screenshot.log"; do
    if grep -q ":CONSOLE" "$log"; then
        fail "the page logged to the console: $(grep ':CONSOLE' "$log" | head -n 3)"
    fi
done

# 3. Not blank.
python3 - "$png" "$width" "$height" <<'PY'
import struct, sys, zlib

path, want_w, want_h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("not a PNG")
pos, idat, w = 8, b"", None
while pos < len(data):
    (length,) = struct.unpack(">I", data[pos:pos + 4])
    kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        if depth != 8 or ctype not in (2, 6):
            sys.exit(f"unexpected PNG format: depth {depth}, colour type {ctype}")
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
if (w, h) != (want_w, want_h):
    sys.exit(f"the PNG is {w}x{h}, the SVG {want_w}x{want_h}")
raw = zlib.decompress(idat)
stride = w * bpp
prev, rows = bytearray(stride), []
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line)
    prev = line
total = w * h
nonwhite = dark = vivid = 0
colours = set()
for line in rows:
    for x in range(0, stride, bpp):
        r, g, b = line[x], line[x + 1], line[x + 2]
        if min(r, g, b) < 240: nonwhite += 1
        if max(r, g, b) < 90: dark += 1
        if max(r, g, b) - min(r, g, b) > 60: vivid += 1
        colours.add((r >> 4, g >> 4, b >> 4))
print(f"render-timeline: {w}x{h} px, {100 * nonwhite / total:.1f}% not white, "
      f"{dark} dark (text) px, {vivid} coloured px, {len(colours)} colours")
problems = []
if nonwhite < total * 0.03: problems.append("almost all white")
if nonwhite > total * 0.9: problems.append("almost nothing is white")
if dark < 2000: problems.append("hardly any dark pixels: was any text drawn?")
if vivid < 2000: problems.append("hardly any colour: were the boxes drawn?")
if len(colours) < 16: problems.append("too few colours")
if problems:
    sys.exit("the picture looks blank or broken: " + "; ".join(problems))
PY

echo "render-timeline: ok; see $png"
