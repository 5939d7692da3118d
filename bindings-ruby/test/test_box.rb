# frozen_string_literal: true

# Dekbox::Box on the installed gem: round trips, every error class, byte
# identity with the format vectors, the CLI and Python, threads and fork.
require "minitest/autorun"
require "base64"
require "json"
require "open3"
require "tmpdir"
require "dekbox"

REPO = File.expand_path("../..", __dir__)
CTX = { "tenant" => "acme" }.freeze

class BoxTest < Minitest::Test
  def box(**opts)
    Dekbox::Box.new("insecure-test-key", **opts)
  end

  def test_round_trips_every_size_and_form
    b = box
    [0, 1, 64, 1024, 64 * 1024, 1 << 20].each do |n|
      pt = Random.bytes(n)
      sealed = b.encrypt(pt, context: CTX, aad: "users/1")
      assert_equal Encoding::ASCII_8BIT, sealed.encoding
      assert_equal pt, b.decrypt(sealed, context: CTX, aad: "users/1")
      token = b.encrypt(pt, context: CTX, text: true)
      assert_equal Encoding::UTF_8, token.encoding
      assert token.start_with?("dekbox:v1:")
      assert_equal pt, b.decrypt(token, context: CTX)
    end
    assert_equal "héllo".b, b.decrypt(b.encrypt("héllo"))
  end

  def test_tampering_wrong_context_aad_and_key_are_authentication_errors
    b = box
    sealed = b.encrypt("secret", context: CTX, aad: "r/1")
    e = assert_raises(Dekbox::AuthenticationError) { b.decrypt(sealed, context: { "tenant" => "other" }, aad: "r/1") }
    assert_equal "AUTHENTICATION", e.code
    assert_raises(Dekbox::AuthenticationError) { b.decrypt(sealed, context: CTX, aad: "r/2") }
    bad = sealed.dup
    bad.setbyte(bad.bytesize - 1, bad.getbyte(bad.bytesize - 1) ^ 1)
    assert_raises(Dekbox::AuthenticationError) { b.decrypt(bad, context: CTX, aad: "r/1") }
    assert_kind_of Dekbox::Error, e
  end

  def test_truncated_garbage_oversized_and_unknown_keys
    b = box
    sealed = b.encrypt("secret")
    e = assert_raises(Dekbox::MalformedError) { b.decrypt(sealed[0, 40]) }
    assert_equal "MALFORMED", e.code
    assert_raises(Dekbox::MalformedError) { b.decrypt("not a dekbox value") }
    assert_raises(Dekbox::MalformedError) { box(max_plaintext: 16).encrypt("x" * 17) }
    Dir.mktmpdir do |dir|
      path = File.join(dir, "k")
      File.write(path, [Random.bytes(32)].pack("m0"))
      File.chmod(0o600, path)
      other = Dekbox::Box.new("local://#{path}")
      e = assert_raises(Dekbox::UnknownKeyError) { other.decrypt(sealed) }
      assert_kind_of Dekbox::ConfigError, e
      assert_equal "UNKNOWN_KEY", e.code
    end
  end

  def test_configuration_and_argument_errors
    assert_raises(Dekbox::ConfigError) { Dekbox::Box.new("ftp://nope") }
    assert_raises(Dekbox::ConfigError) { Dekbox::Box.new("local:///definitely/missing.key") }
    assert_raises(Dekbox::ConfigError) { Dekbox::Box.new("insecure-test-key", keys: { "v1" => "insecure-test-key" }) }
    assert_raises(TypeError) { box.encrypt(42) }
    assert_raises(TypeError) { box.encrypt("x", context: { "tenant" => 1 }) }
    assert_raises(TypeError) { box.encrypt("x", aad: 3.5) }
    assert_raises(TypeError) { box(legacy_fallback: "false") }
    assert_raises(TypeError) { box(grant_tokens: "tok") }
    assert_raises(ArgumentError) { box(no_such_option: 1) }
    assert_raises(Dekbox::MalformedError) { box.encrypt("x", context: { "dekbox:purpose" => "data-key" }) }
    e = assert_raises(Dekbox::InvalidArgumentError) { box.encrypt_many(%w[a b c], aads: %w[a]) }
    assert_match(/aads has 1 entries for 3 values/, e.message)
    assert_kind_of ArgumentError, e
    e = assert_raises(Dekbox::InvalidArgumentError) { box.encrypt("x", context: { "\xff".b => "v" }) }
    assert_match(/UTF-8/, e.message)
    latin = "caf\xe9".dup.force_encoding(Encoding::ISO_8859_1)
    sealed = box.encrypt("x", context: { "who" => latin })
    assert_equal "x", box.decrypt(sealed, context: { "who" => "café" })
    assert_raises(Dekbox::InvalidArgumentError) { box.encrypt("x", context: { tenant: "a", "tenant" => "b" }) }
    e = assert_raises(Dekbox::InvalidArgumentError) do
      box.encrypt("x", context: { "caf\u00e9" => "a", "caf\xc3\xa9".b => "b" })
    end
    assert_match(/each key once/, e.message)
    ctx = Dekbox::Context.new(tenant: "acme")
    assert_equal({ "tenant" => "acme" }, ctx.to_h)
    assert ctx.to_h.frozen?
    assert_raises(Dekbox::AuthenticationError) { box.decrypt(box.encrypt("x", context: ctx), context: { "tenant" => "acm" }) }
  end

  def test_every_error_class_comes_from_the_one_table
    %w[AuthenticationError MalformedError KmsAccessDenied KmsThrottled KmsUnavailable KmsIntegrityError
       KeyDisabled KeyNotFound KmsError ConfigError].each do |name|
      assert Dekbox.const_get(name) < Dekbox::Error, name
    end
    assert Dekbox::UnknownKeyError < Dekbox::ConfigError
    assert_equal "KMS_THROTTLED", Dekbox::KmsThrottled::CODE
  end

  def test_batches_rotation_data_keys_and_prepared_contexts
    b = box
    ctx = Dekbox::Context.new(CTX)
    rows = (0...100).map { |i| "row #{i}" }
    aads = (0...100).map { |i| "t/#{i}" }
    sealed = b.encrypt_many(rows, context: ctx, aads: aads)
    assert_equal rows.map(&:b), b.decrypt_many(sealed, context: CTX, aads: aads)
    bad = aads.dup
    bad[5] = "wrong"
    mixed = b.decrypt_many(sealed, context: ctx, aads: bad, return_exceptions: true)
    assert_kind_of Dekbox::AuthenticationError, mixed[5]
    assert_equal "row 4".b, mixed[4]
    assert_raises(Dekbox::AuthenticationError) { b.decrypt_many(sealed, context: ctx, aads: bad) }
    stats = b.cache_stats
    assert_equal 1, stats.data_keys_generated

    dk = b.generate_data_key(context: CTX)
    assert_equal 32, dk.plaintext.bytesize
    refute_includes dk.inspect, dk.plaintext.unpack1("H*")
    assert_includes dk.inspect, "redacted"
    assert_equal dk.plaintext, b.unwrap(dk.wrapped, context: CTX)
    assert_raises(Dekbox::AuthenticationError) { b.unwrap(dk.wrapped, context: { "tenant" => "b" }) }

    Dir.mktmpdir do |dir|
      keys = %w[v1 v2].to_h do |label|
        path = File.join(dir, label)
        File.write(path, [Random.bytes(32)].pack("m0"))
        File.chmod(0o600, path)
        [label, "local://#{path}"]
      end
      old = Dekbox::Box.new(keys: keys.slice("v1"))
      token = old.encrypt("rotate me", context: CTX, text: true)
      new = Dekbox::Box.new(keys: keys, primary: "v2")
      moved = new.rewrap(token, context: CTX)
      assert moved.start_with?("dekbox:v1:")
      refute_equal token, moved
      assert_equal "rotate me".b, Dekbox::Box.new(keys: keys.slice("v2")).decrypt(moved, context: CTX)
      assert_match(/v1/, new.inspect)
    end
  end

  def test_the_key_comes_from_dekbox_key
    saved = ENV.delete("DEKBOX_KEY")
    e = assert_raises(Dekbox::ConfigError) { Dekbox::Box.new }
    assert_match(/DEKBOX_KEY/, e.message)
    ENV["DEKBOX_KEY"] = "insecure-test-key"
    assert_equal "x".b, Dekbox::Box.new.decrypt(box.encrypt("x"))
  ensure
    saved ? ENV["DEKBOX_KEY"] = saved : ENV.delete("DEKBOX_KEY")
  end

  VECTORS = JSON.parse(File.read(File.join(REPO, "tests/vectors/format-v1.json")))

  def test_format_vectors_open_and_invalid_ones_raise_their_class
    b = Dekbox::Box.new(keys: { "v1" => "insecure-test-key" }, accept_json: true)
    VECTORS["vectors"].each do |v|
      pt = [v["plaintext"]].pack("H*")
      aad = [v["aad"]].pack("H*")
      if v["form"] == "json"
        assert_equal pt, b.decrypt(v["json"], context: v["context"], aad: aad), v["name"]
      else
        assert_equal pt, b.decrypt([v["binary"]].pack("H*"), context: v["context"], aad: aad), v["name"]
        assert_equal pt, b.decrypt(v["text"], context: v["context"], aad: aad), v["name"]
      end
    end
    VECTORS["invalid"].each do |v|
      e = assert_raises(Dekbox::CLASSES.fetch(v["error"]), v["name"]) do
        b.decrypt([v["binary"]].pack("H*"), context: v["context"], aad: [v["aad"]].pack("H*"))
      end
      assert_equal v["error"], e.code
    end
  end

  def cli
    path = ENV.fetch("DEKBOX_CLI", File.join(REPO, "target/debug/dekbox"))
    flunk "the dekbox CLI is not built at #{path}" unless File.executable?(path)
    path
  end

  def test_values_cross_to_and_from_the_cli_and_python
    Dir.mktmpdir do |dir|
      path = File.join(dir, "k")
      File.write(path, [Random.bytes(32)].pack("m0") + "\n")
      File.chmod(0o600, path)
      key = "local://#{path}"
      b = Dekbox::Box.new(key)
      token = b.encrypt("from ruby", context: CTX, aad: "r/1", text: true)
      out, err, st = Open3.capture3(cli, "decrypt", "--key", key, "--context", "tenant=acme", "--aad", "r/1",
                                    stdin_data: token)
      assert st.success?, err
      assert_equal "from ruby", out
      sealed, err, st = Open3.capture3(cli, "encrypt", "--key", key, "--format", "binary", stdin_data: "from rust",
                                                                                          binmode: true)
      assert st.success?, err
      assert_equal "from rust".b, b.decrypt(sealed)

      python = ENV.fetch("DEKBOX_PYTHON") { flunk "DEKBOX_PYTHON (a python with the dekbox wheel) is not set" }
      script = "import dekbox,sys; b=dekbox.Box(sys.argv[1]); " \
               "print(b.decrypt(sys.argv[2], context={'tenant':'acme'}, aad=b'r/1').decode()); " \
               "print(b.encrypt('from python', context={'tenant':'acme'}, text=True))"
      out, err, st = Open3.capture3(python, "-c", script, key, token)
      assert st.success?, err
      from_ruby, py_token = out.lines.map(&:chomp)
      assert_equal "from ruby", from_ruby
      assert_equal "from python".b, b.decrypt(py_token, context: CTX)
    end
  end

  def test_threads_share_one_box
    b = box(cache: Dekbox::CacheConfig.new(max_messages: 500))
    results = 8.times.map do |t|
      Thread.new do
        200.times.map do |i|
          pt = "#{t}:#{i}" * (1 + i % 20)
          [pt.b, b.encrypt(pt, context: CTX, aad: i.to_s), i]
        end
      end
    end.flat_map(&:value)
    results.each { |pt, sealed, i| assert_equal pt, b.decrypt(sealed, context: CTX, aad: i.to_s) }
    stats = b.cache_stats
    assert_equal 1600, stats.encrypt_hits + stats.encrypt_misses
  end

  def test_copies_share_their_native_handle_and_nothing_marshals
    b = box
    ctx = Dekbox::Context.new(CTX)
    copies = [b.dup, b.clone]
    ctx_copies = [ctx.dup, ctx.clone]
    sealed = b.encrypt("copied", context: ctx)
    b = ctx = nil
    3.times { GC.start }
    copies.each do |copy|
      ctx_copies.each { |c| assert_equal "copied", copy.decrypt(sealed, context: c) }
    end
    assert_raises(TypeError) { Marshal.dump(copies[0]) }
    assert_raises(TypeError) { Marshal.dump(ctx_copies[0]) }
    assert_raises(NameError) { Dekbox::Fast }
  end

  # Contexts given as hashes live only for one call; while the GVL is
  # released other threads collect garbage, and a context freed mid-call
  # would be read after its release.
  def test_per_call_contexts_survive_garbage_collection_in_other_threads
    b = box
    stop = false
    collector = Thread.new { (GC.start; sleep 0.0005) until stop }
    workers = 4.times.map do |t|
      Thread.new do
        2_000.times do |i|
          ctx = { "tenant" => "t#{t}", "row" => i.to_s }
          sealed = b.encrypt("v#{i}", context: ctx, aad: "a")
          raise "mismatch at #{i}" unless b.decrypt(sealed, context: ctx.dup, aad: "a") == "v#{i}"
        end
      end
    end
    workers.each(&:join)
    stop = true
    collector.join
    assert_equal 8_000, b.cache_stats.encrypt_hits + b.cache_stats.encrypt_misses
  end

  def test_a_forked_child_uses_the_parents_box_with_its_own_nonce_space
    b = box
    parent = b.encrypt("parent", context: CTX)
    reader, writer = IO.pipe
    pid = fork do
      reader.close
      child = b.encrypt("child", context: CTX)
      writer.write([child].pack("m0"))
      writer.close
      exit!(0)
    end
    writer.close
    child = reader.read.unpack1("m0")
    _, status = Process.wait2(pid)
    assert status.success?
    assert_equal parent[5, 32].bytesize, 32
    refute_equal parent[5, 32], child[5, 32], "the child reused the parent's salt"
    assert_equal "child".b, b.decrypt(child, context: CTX)
  end

  def test_message_data_key_hands_out_exactly_the_messages_key
    b = Dekbox::Box.new(keys: { "v1" => "insecure-test-key" })
    VECTORS["vectors"].reject { |v| v["form"] == "json" }.each do |v|
      if v["context"].empty?
        # A key for the empty context would open every context-less message.
        assert_raises(Dekbox::ApiMisuseError) { b.message_data_key(v["text"], context: v["context"]) }
        next
      end
      token = b.message_data_key(v["text"], context: v["context"])
      assert token.start_with?("dekbox:key:v1:"), v["name"]
      raw = Base64.urlsafe_decode64(token.delete_prefix("dekbox:key:v1:"))
      assert_equal "DKK\x01".b, raw.byteslice(0, 4)
      assert_equal v["dek"], raw.byteslice(4, 32).unpack1("H*"), v["name"]
      assert_equal token, b.message_data_key([v["binary"]].pack("H*"), context: v["context"])
      assert_raises(Dekbox::AuthenticationError) { b.message_data_key(v["text"], context: { "someone" => "else" }) }
    end
    assert_raises(Dekbox::MalformedError) { b.message_data_key("not sealed", context: CTX) }
    assert_raises(Dekbox::ApiMisuseError) { b.new_message_data_key }
    assert_raises(TypeError) { b.message_data_key(5) }
    up = b.new_message_data_key(context: CTX)
    assert up.start_with?("dekbox:key:v1:")
    # The CLI hands out the same token for the same message.
    Dir.mktmpdir do |dir|
      path = File.join(dir, "k")
      File.write(path, [Random.bytes(32)].pack("m0") + "\n")
      File.chmod(0o600, path)
      key = "local://#{path}"
      sealed = Dekbox::Box.new(key).encrypt("x", context: CTX, text: true)
      out, err, st = Open3.capture3(cli, "message-key", "--key", key, "--context", "tenant=acme", stdin_data: sealed)
      assert st.success?, err
      assert_equal Dekbox::Box.new(key).message_data_key(sealed, context: CTX), out.strip
    end
  end

end
