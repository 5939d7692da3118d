# The Ruby gem as a user gets it: rake builds the native library and its
# uniffi bindings, `gem build`, `gem install --local` into a scratch gem home,
# minitest on the installed gem (Debian's Ruby 3.1 and ruby-ffi), real Active
# Record 7.2 from ../shared/vendor, and moto behind the fault proxy.
need_servers || return 0
ruby_gem() {
    if ! command -v rake >/dev/null || ! ruby -e 'require "ffi"; require "minitest"' 2>/dev/null; then
        apt_install ruby ruby-dev ruby-ffi rake ruby-minitest ruby-sqlite3 ruby-concurrent ruby-i18n \
            ruby-tzinfo ruby-connection-pool || return 1
    fi
    (cd bindings-ruby && rm -f dekbox-*.gem && rake gem) || return 1
    cargo build -q -p dekbox-cli --locked || return 1
    rm -rf .dekbox-test/ruby
    gem install --local --ignore-dependencies --no-document --install-dir .dekbox-test/ruby/gems \
        bindings-ruby/dekbox-*.gem || return 1
    # Real Active Record 7.2 from ../shared/vendor (RubyGems is not reachable).
    tar -xzf ../shared/vendor/rails-7.2.3.2-lib.tar.gz -C .dekbox-test/ruby || return 1
    GEM_PATH=".dekbox-test/ruby/gems:$(gem env gempath)" DEKBOX_CLI="$PWD/target/debug/dekbox" \
        DEKBOX_PYTHON="$PWD/.dekbox-test/py/bin/python" DEKBOX_RAILS_LIB="$PWD/.dekbox-test/ruby/rails-7.2.3.2" \
        ruby -e 'require "minitest/autorun"; Dir["bindings-ruby/test/test_*.rb"].sort.each { |f| load f }'
}
minitest_suite "Ruby gem: rake + gem build + gem install --local, minitest" ruby_gem
