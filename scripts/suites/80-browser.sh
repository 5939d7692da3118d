# The browser package: wasm-bindgen-test in Debian's headless Chromium (the
# format vectors, a message sealed by the Rust CLI, error codes, the Web
# Crypto path), then the npm package as a user gets it (build.sh, npm pack,
# npm install) driving the example page with playwright-core: a note sealed
# by the Python wheel opened in the page, a reply sealed in the page opened
# by Python, and AWS KMS from inside the page through a CORS front to moto.
browser_tools() {
    if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
        apt_install chromium chromium-driver || return 1
    fi
    # wasm-bindgen-cli must match the wasm-bindgen crate exactly.
    local want
    want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
    if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
        cargo install -q wasm-bindgen-cli --version "$want" || return 1
    fi
}
browser_cli_fixture() {
    cargo build -q -p dekbox-cli --locked || return 1
    local dir cli=target/debug/dekbox
    dir=$(mktemp -d)
    "$cli" keygen -o "$dir/k.key" >/dev/null 2>&1 || return 1
    printf 'sealed by the dekbox CLI' |
        "$cli" encrypt --key "local://$dir/k.key" --context user=42 --aad "row 7" >"$dir/m" || return 1
    "$cli" message-key --key "local://$dir/k.key" --context user=42 -i "$dir/m" >"$dir/t" || return 1
    DEKBOX_TEST_CLI_MESSAGE=$(cat "$dir/m")
    DEKBOX_TEST_CLI_TOKEN=$(cat "$dir/t")
    export DEKBOX_TEST_CLI_MESSAGE DEKBOX_TEST_CLI_TOKEN
    rm -rf "$dir"
}
if check "browser tools: chromium, chromedriver, wasm-bindgen-cli (Cargo.lock's version)" browser_tools &&
    check "a message and its message key from the Rust CLI" browser_cli_fixture; then
    CHROMEDRIVER=/usr/bin/chromedriver CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
        WASM_BINDGEN_TEST_TIMEOUT=120 \
        cargo_suite "dekbox-wasm: wasm-bindgen-test in headless Chromium" \
        -p dekbox-wasm --target wasm32-unknown-unknown --locked
fi

browser_kms_key() {
    DEKBOX_TEST_BROWSER_KMS_ARN=$("$venv/bin/python" - "$DEKBOX_TEST_MOTO_AUTH_URL" "$DEKBOX_TEST_MOTO_AUTH_KEY" <<'PY'
import sys, botocore.session
akid, secret = sys.argv[2].split(" ")
kms = botocore.session.get_session().create_client(
    "kms", region_name="us-east-1", endpoint_url=sys.argv[1],
    aws_access_key_id=akid, aws_secret_access_key=secret)
print(kms.create_key(Description="browser")["KeyMetadata"]["Arn"])
PY
    ) || return 1
    export DEKBOX_TEST_BROWSER_KMS_ARN
}
# Test-only packages for the scratch project, pinned.
browser_test_deps=(playwright-core@1.65.1 typescript@5.9.3)
browser_package() {
    (cd bindings-wasm && rm -f dekbox-browser-*.tgz && ./build.sh && npm pack --silent) || return 1
    local dir=.dekbox-test/browser
    rm -rf "$dir/test" "$dir/.tsc-"*
    mkdir -p "$dir"
    [ -f "$dir/package.json" ] || echo '{"name": "dekbox-browser-tests", "private": true, "type": "module"}' >"$dir/package.json"
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error --no-save \
        "../../bindings-wasm/$(cd ../../bindings-wasm && ls dekbox-browser-*.tgz)" "${browser_test_deps[@]}") || return 1
    cp -r bindings-wasm/test "$dir/"
    if [ ! -x .dekbox-test/py/bin/python ]; then
        echo "the Python wheel's venv is missing: run the python suite first (./scripts/test.sh)" >&2
        return 1
    fi
    (cd "$dir" && DEKBOX_REPO="$PWD/../.." DEKBOX_PYTHON="$PWD/../py/bin/python" \
        DEKBOX_BROWSER_PKG="$PWD/node_modules/dekbox-browser/dist" \
        DEKBOX_ARTIFACTS="$PWD/../artifacts" node --test --test-reporter=spec test/*.test.mjs)
}
if need_servers && check "a KMS key on moto (signed requests) for the page" browser_kms_key; then
    node_suite "dekbox-browser: npm pack, npm install, the example page in Chromium (playwright-core)" browser_package
fi
