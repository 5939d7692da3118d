# frozen_string_literal: true

# Root keys from Ruby: compact and deterministic values and blind indexes
# byte for byte the vectors (tests/vectors/root-v1.json) and the CLI; bad
# input; and Active Record's deterministic attributes served by
# Dekbox::KeyProvider with a root: two processes writing to one database,
# find_by from either and after a restart, uniqueness, downcase and
# ignore_case, rotation, no plaintext in the columns, one KMS Decrypt per
# root per process (moto, counted at the fault proxy). On the installed gem.
require "minitest/autorun"
require "json"
require "net/http"
require "open3"
require "tmpdir"
require "sqlite3"
require "dekbox"

require_relative "ar_helper"

class RootsTest < Minitest::Test
  VECTORS = JSON.parse(File.read(File.expand_path("../../tests/vectors/root-v1.json", __dir__)))
  TOKEN = VECTORS.fetch("root_token")
  EMAIL = "ada@example.com!!"
  CTX = { "tenant" => "acme" }.freeze

  def env(name)
    ENV.fetch(name) { flunk "#{name} is not set: run ./scripts/test.sh" }
  end

  def box(**options)
    Dekbox::Box.new("insecure-test-key", roots: { "r1" => TOKEN }, **options)
  end

  def sealed_of(v)
    v["form"] == "text" ? v["sealed"] : [v["sealed"]].pack("H*")
  end

  def test_vectors_byte_for_byte
    b = box
    VECTORS["values"].each do |v|
      args = { column: v["column"], context: v["context"], aad: [v["aad"]].pack("H*") }
      assert_equal [v["plaintext"]].pack("H*"), b.decrypt_compact(sealed_of(v), **args), v["name"]
      next unless v["mode"] == "deterministic"

      again = b.encrypt_compact([v["plaintext"]].pack("H*"), deterministic: true, text: v["form"] == "text", **args)
      assert_equal sealed_of(v), again, v["name"]
    end
    VECTORS["blind_indexes"].each do |v|
      slow = v["argon2id"] ? [v["argon2id"]["t_cost"], v["argon2id"]["m_cost"]] : false
      got = b.blind_index([v["value"]].pack("H*"), column: v["column"], context: v["context"], bits: v["bits"],
                                                   trim: v["trim"], casefold: v["casefold"], slow: slow)
      assert_equal v["index"], got, v["name"]
    end
    VECTORS["external_keys"].each do |v|
      assert_equal ["r1", [v["key"]].pack("H*")], b.external_key(column: v["column"], context: v["context"])
    end
    assert_equal 1, b.cache_stats.kms_calls
    assert_equal [["r1"], "r1"], b.root_labels
  end

  def test_compact_values_match_the_cli_and_refuse_what_does_not_belong
    b = box
    v = b.encrypt_compact(EMAIL, column: "users.email", context: CTX, aad: "users/42", text: true)
    assert_equal 97, v.bytesize
    assert_equal Encoding::UTF_8, v.encoding
    assert_equal EMAIL.b, b.decrypt_compact(v, column: "users.email", context: CTX, aad: "users/42")
    [{ context: { "tenant" => "globex" } }, { column: "users.phone" }, { aad: "users/43" }].each do |change|
      args = { column: "users.email", context: CTX, aad: "users/42" }.merge(change)
      assert_raises(Dekbox::AuthenticationError) { b.decrypt_compact(v, **args) }
    end
    det = b.encrypt_compact(EMAIL, column: "users.email", context: CTX, deterministic: true, text: true)
    out, err, st = Open3.capture3(env("DEKBOX_CLI"), "encrypt", "--key", "insecure-test-key", "--root", "r1=#{TOKEN}",
                                  "--mode", "deterministic", "--column", "users.email", "--context", "tenant=acme",
                                  stdin_data: EMAIL)
    assert st.success?, err
    assert_equal det, out.strip
    bin = b.encrypt_compact(EMAIL, column: "c", context: CTX)
    bin.bytesize.times do |i|
      bad = bin.dup
      bad.setbyte(i, bad.getbyte(i) ^ 1)
      assert_raises(Dekbox::AuthenticationError, Dekbox::MalformedError, Dekbox::UnknownKeyError) do
        b.decrypt_compact(bad, column: "c", context: CTX)
      end
    end
    (0...bin.bytesize).each do |n|
      assert_raises(Dekbox::MalformedError, Dekbox::AuthenticationError, Dekbox::UnknownKeyError) do
        b.decrypt_compact(bin.byteslice(0, n), column: "c", context: CTX)
      end
    end
    assert_raises(Dekbox::MalformedError) { box(max_plaintext: 16).encrypt_compact(EMAIL, column: "c") }
    impostor = box.create_root("r1")
    assert_raises(Dekbox::AuthenticationError) do
      Dekbox::Box.new("insecure-test-key", roots: { "r1" => impostor }).decrypt_compact(bin, column: "c", context: CTX)
    end
    assert_raises(Dekbox::ConfigError) { Dekbox::Box.new("insecure-test-key").encrypt_compact("x", column: "c") }
    assert_raises(Dekbox::MalformedError) { b.decrypt(bin, context: CTX) }
    assert_raises(ArgumentError) { b.encrypt_compact("x") }
    assert_equal 16, b.blind_index(EMAIL, column: "c", bits: 64).size
    assert_equal b.blind_index(" A ", column: "c", normalize: ->(s) { s.strip }), b.blind_index("A", column: "c")
  end

  # ---- Active Record ------------------------------------------------------

  def proxy(path, body = nil)
    uri = URI(env("DEKBOX_TEST_FAULT_PROXY_URL") + path)
    res = body ? Net::HTTP.post(uri, JSON.generate(body), "Content-Type" => "application/json") : Net::HTTP.get_response(uri)
    JSON.parse(res.body)
  end

  def forwarded(action)
    proxy("/__stats")["forwarded"].fetch("TrentService.#{action}", 0)
  end

  def create_kms_key
    out, err, st = Open3.capture3(env("DEKBOX_PYTHON"), "-c", <<~PY, env("DEKBOX_TEST_MOTO_URL"))
      import sys, botocore.session
      kms = botocore.session.get_session().create_client("kms", region_name="us-east-1", endpoint_url=sys.argv[1],
          aws_access_key_id="testing", aws_secret_access_key="testing")
      print(kms.create_key(Description="roots")["KeyMetadata"]["Arn"])
    PY
    assert st.success?, err
    out.strip
  end

  # The app, as each process loads it: a User with a deterministic, downcased
  # email (unique), a per-record-key name, and a key provider with the roots.
  APP = <<~RUBY
    require "json"
    vendor = ENV.fetch("DEKBOX_RAILS_LIB")
    %w[activesupport activemodel activerecord].each { |g| $LOAD_PATH.unshift File.join(vendor, g, "lib") }
    require "active_record"
    require "dekbox/active_record"
    ActiveRecord::Base.establish_connection(adapter: "sqlite3", database: ENV.fetch("APP_DB"))
    ActiveRecord::Encryption.configure(primary_key: "p" * 32, deterministic_key: "d" * 32, key_derivation_salt: "s" * 32)
    ActiveRecord::Encryption.config.extend_queries = true
    ActiveRecord::Encryption::ExtendedDeterministicQueries.install_support
    roots = JSON.parse(ENV.fetch("APP_ROOTS"))
    PROVIDER = Dekbox::KeyProvider.new(key: ENV.fetch("APP_KEY"), endpoint: ENV.fetch("APP_ENDPOINT"), root: roots)
    previous = roots.drop(1).map do |t|
      { deterministic: true, downcase: true, key_provider: PROVIDER.deterministic(root: t.split(":")[3]) }
    end
    class User < ActiveRecord::Base; end
    # fixed: false: write with the current root (Active Record's default for
    # deterministic attributes with previous: schemes is the oldest).
    User.encrypts :email, deterministic: { fixed: false }, downcase: true, key_provider: PROVIDER, previous: previous
    User.encrypts :name, key_provider: PROVIDER
    User.validates :email, uniqueness: true
  RUBY

  def in_process(db, key, roots, script)
    env_vars = { "APP_DB" => db, "APP_KEY" => key, "APP_ROOTS" => JSON.generate(roots),
                 "APP_ENDPOINT" => env("DEKBOX_TEST_FAULT_PROXY_URL") }
    out, err, st = Open3.capture3(env_vars, RbConfig.ruby, "-e", APP + script)
    assert st.success?, "#{err}\n#{out}"
    out
  end

  def test_deterministic_attributes_across_processes_restarts_and_rotation
    ENV["AWS_ACCESS_KEY_ID"] = "testing"
    ENV["AWS_SECRET_ACCESS_KEY"] = "testing"
    ENV["AWS_EC2_METADATA_DISABLED"] = "true"
    arn = create_kms_key
    key = "aws-kms://#{arn}"
    r1 = Dekbox::Box.new(key, endpoint: env("DEKBOX_TEST_MOTO_URL")).create_root("r1")
    Dir.mktmpdir do |dir|
      db = File.join(dir, "app.sqlite3")
      SQLite3::Database.new(db) do |d|
        d.execute("create table users (id integer primary key autoincrement, email varchar, name varchar)")
      end

      proxy("/__reset", {})
      # Two processes, each with a fresh provider, write users.
      in_process(db, key, [r1], 'User.create!(email: "Ada@Example.com", name: "Ada"); User.create!(email: "bob@example.com", name: "Bob")')
      in_process(db, key, [r1], 'User.create!(email: "cy@example.com", name: "Cy")')
      decrypts = forwarded("Decrypt")
      assert_equal 2, decrypts, "one root unwrap per process (and none for the per-record keys they wrote)"
      # A third process (a restart) finds every row, case-insensitively, and
      # the uniqueness validation sees the existing one.
      out = in_process(db, key, [r1], <<~RUBY)
        found = %w[ada@example.com BOB@example.com cy@example.com].map { |e| User.find_by(email: e)&.name }
        dup = User.new(email: "ADA@example.com", name: "Dup")
        puts JSON.generate(found: found, dup_valid: dup.valid?, errors: dup.errors.full_messages,
                           count: User.where(email: "ada@example.com").count)
      RUBY
      result = JSON.parse(out)
      assert_equal %w[Ada Bob Cy], result["found"]
      assert_equal false, result["dup_valid"]
      assert_match(/taken/, result["errors"].join)
      assert_equal 1, result["count"]
      assert_equal decrypts + 1 + 2, forwarded("Decrypt"), "the restart: its root once, and each writer's data key once"

      # The columns hold no plaintext; equal emails are equal ciphertexts.
      sqlite = SQLite3::Database.new(db)
      raw = sqlite.execute("select email, name from users")
      sqlite.close
      flat = raw.flatten.join(" ")
      %w[ada@example.com bob@example.com cy@example.com example.com].each { |s| refute_includes flat, s }
      plain = %w[ada@example.com bob@example.com cy@example.com Ada Bob Cy]
      raw.flatten.each { |cell| refute_includes plain, JSON.parse(cell)["p"].unpack1("m") }

      # Rotation: r2 primary, r1 kept. Old rows stay findable; a re-save
      # moves one to r2, after which r1 alone no longer finds it.
      r2 = Dekbox::Box.new(key, endpoint: env("DEKBOX_TEST_MOTO_URL")).create_root("r2")
      out = in_process(db, key, [r2, r1], <<~RUBY)
        before = User.find_by(email: "bob@example.com")&.name
        User.create!(email: "dee@example.com", name: "Dee")
        bob = User.find_by(email: "bob@example.com"); bob.update!(email: "bob@example.com", name: "Bob2")
        bob.encrypt
        puts JSON.generate(before: before, after: User.find_by(email: "bob@example.com")&.name,
                           dee: User.find_by(email: "dee@example.com")&.name,
                           ada: User.find_by(email: "ada@example.com")&.name)
      RUBY
      assert_equal({ "before" => "Bob", "after" => "Bob2", "dee" => "Dee", "ada" => "Ada" }, JSON.parse(out))
      out = in_process(db, key, [r1], <<~RUBY)
        puts JSON.generate(bob: User.find_by(email: "bob@example.com")&.name, ada: User.find_by(email: "ada@example.com")&.name)
      RUBY
      assert_equal({ "bob" => nil, "ada" => "Ada" }, JSON.parse(out), "bob moved to r2; ada is still under r1")
    end
  end

  def test_ignore_case_and_a_per_column_key
    provider = Dekbox::KeyProvider.new(key: "insecure-test-key", root: TOKEN)
    ActiveRecord::Schema.define do
      create_table(:accounts, force: true) { |t| t.string :email; t.string :original_email; t.string :handle }
    end
    model = Class.new(ActiveRecord::Base) do
      self.table_name = "accounts"
      define_singleton_method(:name) { "Account" }
      encrypts :email, deterministic: true, ignore_case: true, key_provider: provider
      encrypts :handle, deterministic: true, key_provider: provider.deterministic(column: "accounts.handle")
    end
    a = model.create!(email: "Ada@Example.com", handle: "ada@example.com")
    assert_equal a.id, model.find_by(email: "ADA@example.com").id
    assert_equal "Ada@Example.com", model.find(a.id).email
    assert_equal a.id, model.find_by(handle: "ada@example.com").id
    raw = model.connection.select_one("select email, handle from accounts where id = #{a.id}")
    refute_equal JSON.parse(raw["email"])["p"], JSON.parse(raw["handle"])["p"], "a column key of its own"
    # The same key in every provider (another process, a restart).
    again = Dekbox::KeyProvider.new(key: "insecure-test-key", root: TOKEN)
    assert_equal provider.deterministic.encryption_key.secret, again.deterministic.encryption_key.secret
    refute_equal provider.deterministic.encryption_key.secret,
                 provider.deterministic(column: "accounts.handle").encryption_key.secret
  end

  def test_the_scheme_hook_only_takes_what_is_dekboxs
    ActiveRecord::Schema.define { create_table(:notes, force: true) { |t| t.string :code; t.string :tag } }
    rootless = Dekbox::KeyProvider.new(key: "insecure-test-key")
    with_root = Dekbox::KeyProvider.new(key: "insecure-test-key", root: TOKEN)
    # A default dekbox provider leaves deterministic attributes on Rails'
    # configured deterministic_key (existing data keeps its key).
    rails_default = Class.new(ActiveRecord::Base) do
      self.table_name = "notes"
      define_singleton_method(:name) { "Note" }
      encrypts :code, deterministic: true
    end
    ActiveRecord::Encryption.with_encryption_context(key_provider: with_root) do
      n = rails_default.create!(code: "abc")
      assert_equal n.id, rails_default.find_by(code: "abc").id
      header = JSON.parse(rails_default.connection.select_value("select code from notes where id = #{n.id}"))["h"]
      refute_equal "dekbox-root:r1", header["i"].to_s.unpack1("m"), "Rails' deterministic_key, not the root"
    end
    # An explicit dekbox provider without a root is refused, not quietly random.
    broken = Class.new(ActiveRecord::Base) do
      self.table_name = "notes"
      define_singleton_method(:name) { "Note" }
      encrypts :tag, deterministic: true, key_provider: rootless
    end
    assert_raises(Dekbox::ConfigError) { broken.create!(tag: "x") }
    # Values name their root; a pinned provider leaves others to previous:
    # schemes, and a root no longer configured is loud.
    tagged = Class.new(ActiveRecord::Base) do
      self.table_name = "notes"
      define_singleton_method(:name) { "Note" }
      encrypts :tag, deterministic: true, key_provider: with_root
    end
    t = tagged.create!(tag: "hello")
    raw = tagged.connection.select_value("select tag from notes where id = #{t.id}")
    assert_equal "dekbox-root:r1", JSON.parse(raw)["h"]["i"].unpack1("m")
    message = ActiveRecord::Encryption::MessageSerializer.new.load(raw)
    assert_equal [], with_root.deterministic(root: "r1-other-pin").decryption_keys(message)
    other_root = Dekbox::KeyProvider.new(key: "insecure-test-key", root: Dekbox::Box.new("insecure-test-key").create_root("r2"))
    assert_raises(Dekbox::UnknownKeyError) { other_root.deterministic.decryption_keys(message) }
    assert_raises(ArgumentError) { Dekbox::KeyProvider.new(key: "insecure-test-key", root: [TOKEN, TOKEN]) }
  end

  # Review finding: with no deterministic_key configured (the recommended
  # setup), Rails' reader raises; the hook must then use the default
  # provider's root, not fail.
  def test_a_default_provider_with_a_root_serves_deterministic_attributes_without_a_deterministic_key
    script = <<~RUBY
      vendor = ENV.fetch("DEKBOX_RAILS_LIB")
      %w[activesupport activemodel activerecord].each { |g| $LOAD_PATH.unshift File.join(vendor, g, "lib") }
      require "active_record"
      require "dekbox/active_record"
      require "json"
      ActiveRecord::Base.establish_connection(adapter: "sqlite3", database: ":memory:")
      ActiveRecord::Schema.verbose = false
      ActiveRecord::Schema.define { create_table(:users) { |t| t.string :email } }
      provider = Dekbox::KeyProvider.new(key: "insecure-test-key", root: ENV.fetch("ROOT_TOKEN"))
      ActiveRecord::Encryption.configure(primary_key: "p" * 32, key_derivation_salt: "s" * 32, key_provider: provider)
      class User < ActiveRecord::Base; end
      User.encrypts :email, deterministic: true, downcase: true
      u = User.create!(email: "Ada@Example.com")
      raw = User.connection.select_value("select email from users")
      puts JSON.generate(found: User.find_by(email: "ADA@example.com")&.id == u.id,
                         tag: JSON.parse(raw)["h"]["i"].unpack1("m"))
    RUBY
    out, err, st = Open3.capture3({ "ROOT_TOKEN" => TOKEN }, RbConfig.ruby, "-e", script)
    assert st.success?, err
    assert_equal({ "found" => true, "tag" => "dekbox-root:r1" }, JSON.parse(out))
  end
end

