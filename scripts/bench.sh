#!/usr/bin/env bash
# Speed figures, measured in one run on this machine:
#   - OpenSSL's AES-256-GCM at 16 KiB (`openssl speed -evp aes-256-gcm`);
#   - dekbox seal/open with a cached data key against raw aws-lc-rs, ring and
#     RustCrypto AES-256-GCM (`cargo bench -p dekbox-core --bench ratios`);
# then prints the ratios the targets are stated in.
#
#   ./scripts/bench.sh             full run (a few minutes)
#   ./scripts/bench.sh --quick     fewer rounds
#   ./scripts/bench.sh --criterion also run the criterion suite (seal_open)
#   ./scripts/bench.sh --python    also build the wheel and run bindings-python/bench.py
#                                  (vs cryptography's AESGCM and aws-encryption-sdk 4.x)
#   ./scripts/bench.sh --ruby      also build and install the gem and run bindings-ruby/bench.rb
#                                  (vs OpenSSL::Cipher, and Rails' envelope key provider)
#   ./scripts/bench.sh --browser   also build and install dekbox-browser and run
#                                  bindings-wasm/bench/bench.mjs in headless Chromium
#                                  (vs Web Crypto AES-256-GCM, same run)
#   ./scripts/bench.sh --node      also build, pack and install the npm package and run
#                                  bindings-node/bench.mjs (vs node:crypto AES-256-GCM, and
#                                  the AWS Encryption SDK for JavaScript 5)

set -euo pipefail
cd "$(dirname "$0")/.."

quick=""
criterion=""
python=""
ruby=""
node=""
browser=""
for a in "$@"; do
    case $a in
        --quick) quick="--quick" ;;
        --criterion) criterion=1 ;;
        --python) python=1 ;;
        --ruby) ruby=1 ;;
        --node) node=1 ;;
        --browser) browser=1 ;;
        *) echo "usage: $0 [--quick] [--criterion] [--python] [--ruby] [--node] [--browser]" >&2; exit 2 ;;
    esac
done

out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "==> openssl speed -evp aes-256-gcm -bytes 16384"
secs=3
[ -n "$quick" ] && secs=1
openssl_line=$(openssl speed -evp aes-256-gcm -bytes 16384 -seconds "$secs" 2>/dev/null | grep -iE '^aes-256-gcm' | tail -1)
echo "$openssl_line"
# "AES-256-GCM  4312345.67k": thousands of bytes per second.
openssl_gbps=$(echo "$openssl_line" | awk '{ v = $NF; sub(/k$/, "", v); printf "%.2f", v * 1000 / 1e9 }')

echo
echo "==> cargo bench -p dekbox-core --bench ratios $quick"
cargo bench -q -p dekbox-core --bench ratios -- $quick | tee "$out"

echo
echo "==> ratios"
awk -v ossl="$openssl_gbps" '
/^RATIO/ {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
    size = r["size"]
    printf "%8s B  seal %5.2f GB/s = %5.1f%% of raw aws-lc-rs   open %5.2f GB/s = %5.1f%%   overhead seal %4d ns, open %4d ns\n",
        size, r["dekbox_seal_gbps"], 100 * r["seal_vs_awslc"], r["dekbox_open_gbps"], 100 * r["open_vs_awslc"],
        r["seal_overhead_ns"], r["open_overhead_ns"]
    if (size == 16384) { seal16 = r["dekbox_seal_gbps"]; open16 = r["dekbox_open_gbps"] }
}
END {
    printf "\n16 KiB vs OpenSSL (%s GB/s, same run): dekbox seal %.0f%%, open %.0f%% (issue target >= 70%%)\n",
        ossl, 100 * seal16 / ossl, 100 * open16 / ossl
}' "$out"

if [ -n "$criterion" ]; then
    echo
    echo "==> cargo bench -p dekbox-core --bench seal_open"
    cargo bench -q -p dekbox-core --bench seal_open
fi

if [ -n "$python" ]; then
    echo
    echo "==> Python: maturin wheel in a venv with cryptography and aws-encryption-sdk[MPL]"
    tools=.dekbox-test/venv
    [ -x "$tools/bin/maturin" ] || { python3 -m venv "$tools" && "$tools/bin/pip" install -q 'maturin>=1.7,<2'; }
    rm -f target/wheels/dekbox-*.whl
    "$tools/bin/maturin" build --release -q -m bindings-python/Cargo.toml -o target/wheels
    bench=.dekbox-test/bench-py
    [ -x "$bench/bin/python" ] || python3 -m venv "$bench"
    "$bench/bin/pip" install -q --disable-pip-version-check cryptography 'aws-encryption-sdk[MPL]'
    "$bench/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps target/wheels/dekbox-*.whl
    # moto on 127.0.0.1 for the AWS-key figures, stopped on exit.
    [ -x "$tools/bin/moto_server" ] || "$tools/bin/pip" install -q 'moto[server]'
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    "$tools/bin/moto_server" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
    moto_pid=$!
    trap 'kill "$moto_pid" 2>/dev/null; rm -f "$out"' EXIT
    for _ in $(seq 1 100); do
        python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null && break
        sleep 0.2
    done
    DEKBOX_BENCH_MOTO_URL="http://127.0.0.1:$port" "$bench/bin/python" bindings-python/bench.py
fi

if [ -n "$ruby" ]; then
    echo
    echo "==> Ruby: gem built with rake, installed into a scratch gem home"
    (cd bindings-ruby && rm -f dekbox-*.gem && rake gem >/dev/null)
    scratch=.dekbox-test/bench-rb
    rm -rf "$scratch" && mkdir -p "$scratch"
    gem install --local --ignore-dependencies --no-document --install-dir "$scratch/gems" bindings-ruby/dekbox-*.gem >/dev/null
    tar -xzf ../shared/vendor/rails-7.2.3.2-lib.tar.gz -C "$scratch"
    GEM_PATH="$scratch/gems:$(gem env gempath)" DEKBOX_RAILS_LIB="$scratch/rails-7.2.3.2" ruby bindings-ruby/bench.rb
fi

if [ -n "$node" ]; then
    echo
    echo "==> Node: addon built by napi-rs, npm pack, installed into a scratch project"
    (cd bindings-node && npm ci --no-audit --no-fund --loglevel=error && rm -f dekbox-*.tgz &&
        npm run --silent build && npm pack --silent >/dev/null)
    scratch=.dekbox-test/bench-node
    rm -rf "$scratch" && mkdir -p "$scratch"
    echo '{"name": "dekbox-bench", "private": true}' >"$scratch/package.json"
    (cd "$scratch" && npm install --no-audit --no-fund --loglevel=error ../../bindings-node/dekbox-*.tgz \
        @aws-crypto/client-node@5)
    cp bindings-node/bench.mjs "$scratch/"
    (cd "$scratch" && node bench.mjs $quick)
fi

if [ -n "$browser" ]; then
    echo
    echo "==> the browser package in headless Chromium (vs Web Crypto)"
    (cd bindings-wasm && rm -f dekbox-browser-*.tgz && ./build.sh && npm pack --silent >/dev/null)
    cargo build -q -p dekbox-cli --locked
    scratch=.dekbox-test/bench-browser
    mkdir -p "$scratch"
    [ -f "$scratch/package.json" ] || echo '{"name": "dekbox-browser-bench", "private": true, "type": "module"}' >"$scratch/package.json"
    (cd "$scratch" && npm install --no-audit --no-fund --loglevel=error --no-save \
        ../../bindings-wasm/dekbox-browser-*.tgz playwright-core@1.65.1)
    cp bindings-wasm/bench/* "$scratch/"
    keydir=$(mktemp -d)
    target/debug/dekbox keygen -o "$keydir/k.key" >/dev/null 2>&1
    token=$(target/debug/dekbox message-key --new --key "local://$keydir/k.key" --context tenant=acme)
    rm -rf "$keydir"
    (cd "$scratch" && DEKBOX_BROWSER_PKG="$PWD/node_modules/dekbox-browser/dist" DEKBOX_TOKEN="$token" \
        node bench.mjs $quick)
fi
