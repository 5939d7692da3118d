#!/usr/bin/env bash
# Builds the dekbox-browser npm package into bindings-wasm/dist:
#
#   dist/web/      the data-key build, an ES module for <script type="module">
#                  (`await init()` first)
#   dist/bundler/  the same for bundlers (webpack 5, Vite with a wasm plugin)
#   dist/kms/      with Box (AWS KMS over fetch), ES module
#
# Needs wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock
# (scripts/suites/80-browser.sh installs it). Prints each .wasm's size, raw
# and gzipped.
set -euo pipefail
cd "$(dirname "$0")"
target=../target/wasm32-unknown-unknown/wasm-release
out=dist
rm -rf "$out"
build() { # FEATURES
    cargo build -q -p dekbox-wasm --target wasm32-unknown-unknown --profile wasm-release --locked $1
}
bindgen() { # TARGET DIR
    wasm-bindgen --target "$1" --out-name dekbox --out-dir "$out/$2" \
        --remove-name-section --remove-producers-section "$target/dekbox_wasm.wasm"
}
build ""
bindgen web web
bindgen bundler bundler
build "--features kms"
bindgen web kms
for d in web bundler kms; do
    w="$out/$d/dekbox_bg.wasm"
    printf '%-8s %8d bytes, %7d gzipped\n' "$d" "$(stat -c %s "$w")" "$(gzip -9 -c "$w" | wc -c)"
done
