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
out=dist
rm -rf "$out"
build() { # PROFILE FEATURES
    cargo build -q -p dekbox-wasm --target wasm32-unknown-unknown --profile "$1" --locked $2
}
bindgen() { # PROFILE TARGET DIR
    wasm-bindgen --target "$2" --out-name dekbox --out-dir "$out/$3" \
        --remove-name-section --remove-producers-section \
        "../target/wasm32-unknown-unknown/$1/dekbox_wasm.wasm"
}
# Opt-levels by measurement (Cargo.toml's wasm profiles, README.md).
build wasm-release ""
bindgen wasm-release web web
bindgen wasm-release bundler bundler
build wasm-release-small "--features kms"
bindgen wasm-release-small web kms
for d in web bundler kms; do
    w="$out/$d/dekbox_bg.wasm"
    printf '%-8s %8d bytes, %7d gzipped\n' "$d" "$(stat -c %s "$w")" "$(gzip -9 -c "$w" | wc -c)"
done
