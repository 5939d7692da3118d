# The npm package as a user gets it: napi-rs builds the addon (release),
# `npm pack` makes the tarball, `npm install` puts it in a scratch project
# with the test-only packages (TypeScript, TypeORM on sql.js), and node's
# built-in runner tests the installed package against moto and the fault
# proxy, the CLI and the Python wheel.
need_servers || return 0
# Test-only packages for the scratch project, pinned.
node_test_deps=(typescript@5.9.3 @types/node@20.19.43 typeorm@0.3.31 sql.js@1.17.0 reflect-metadata@0.2.2)
node_package() {
    (cd bindings-node && npm ci --no-audit --no-fund --loglevel=error &&
        rm -f dekbox-*.tgz && npm run --silent build && npm pack --silent) || return 1
    cargo build -q -p dekbox-cli --locked || return 1
    local dir=.dekbox-test/node
    rm -rf "$dir/test" "$dir/examples" "$dir/.tsc-"*
    mkdir -p "$dir"
    [ -f "$dir/package.json" ] || echo '{"name": "dekbox-node-tests", "private": true}' >"$dir/package.json"
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error --no-save \
        "../../bindings-node/$(cd ../../bindings-node && ls dekbox-*.tgz)" "${node_test_deps[@]}") || return 1
    cp -r bindings-node/test bindings-node/examples "$dir/"
    if [ ! -x .dekbox-test/py/bin/python ]; then
        echo "the Python wheel's venv is missing: run the python suite first (./scripts/test.sh)" >&2
    fi
    (cd "$dir" && DEKBOX_REPO="$PWD/../.." DEKBOX_CLI="$PWD/../../target/debug/dekbox" \
        DEKBOX_PYTHON="$PWD/../py/bin/python" node --test --test-reporter=spec test/*.test.mjs test/*.test.cjs)
}
node_suite "Node package: napi build, npm pack, npm install into a scratch project, node --test" node_package
