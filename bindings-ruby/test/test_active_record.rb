# frozen_string_literal: true

# Dekbox::KeyProvider on real Active Record 7.2 (../shared/vendor), sqlite3 in
# memory, on the installed gem.
require "minitest/autorun"
require "json"
require "tmpdir"

require_relative "ar_helper"

module Tenant
  def self.current = Thread.current[:dekbox_test_tenant]

  def self.with(id)
    Thread.current[:dekbox_test_tenant] = id
    yield
  ensure
    Thread.current[:dekbox_test_tenant] = nil
  end
end

class ActiveRecordTest < Minitest::Test
  def key_file(dir, name)
    path = File.join(dir, name)
    File.write(path, [Random.bytes(32)].pack("m0"))
    File.chmod(0o600, path)
    "local://#{path}"
  end

  # A model class bound to one provider (a fresh class per test).
  def model(provider, **encrypts_options)
    encrypted_model("patients", provider, **encrypts_options)
  end

  def raw_ssn(id)
    ActiveRecord::Base.connection.select_value("SELECT ssn FROM patients WHERE id = #{Integer(id)}")
  end

  def header_token(id)
    JSON.parse(raw_ssn(id))["h"]["k"].unpack1("m0")
  end

  def setup
    ActiveRecord::Base.connection.execute("DELETE FROM patients")
    @dir = Dir.mktmpdir
  end

  def teardown
    FileUtils.remove_entry(@dir)
  end

  def test_two_hundred_records_one_data_key_and_a_fresh_reader_unwraps_once
    key = key_file(@dir, "v1")
    provider = Dekbox::KeyProvider.new(key: key)
    patient = model(provider)
    ids = 200.times.map { |i| patient.create!(ssn: "123-45-#{format("%04d", i)}").id }
    assert_equal 1, provider.box.cache_stats.data_keys_generated, "writes reuse one cached data key"
    ids.each_with_index do |id, i|
      assert_equal "123-45-#{format("%04d", i)}", patient.find(id).ssn
      refute_includes raw_ssn(id), "123-45-", "raw column holds no plaintext"
    end
    token = header_token(ids.first)
    assert_equal 0x02, token.getbyte(0), "the header's token names its key by URI"
    assert_includes token, key, "the token carries the key URI"
    # A restart: a new provider reads everything with one unwrap.
    fresh = Dekbox::KeyProvider.new(key: key)
    reader = model(fresh)
    ids.each_with_index { |id, i| assert_equal "123-45-#{format("%04d", i)}", reader.find(id).ssn }
    assert_equal 1, fresh.box.cache_stats.kms_calls
  end

  def test_tampered_payload_or_header_raises_decryption
    patient = model(Dekbox::KeyProvider.new(key: key_file(@dir, "v1")))
    id = patient.create!(ssn: "secret").id
    message = JSON.parse(raw_ssn(id))
    payload = message["p"].unpack1("m0")
    payload.setbyte(0, payload.getbyte(0) ^ 1)
    bad_payload = message.merge("p" => [payload].pack("m0"))
    token = message["h"]["k"].unpack1("m0")
    token.setbyte(token.bytesize - 1, token.getbyte(token.bytesize - 1) ^ 1)
    bad_header = message.merge("h" => message["h"].merge("k" => [token].pack("m0")))
    [bad_payload, bad_header].each do |bad|
      ActiveRecord::Base.connection.execute(
        "UPDATE patients SET ssn = #{ActiveRecord::Base.connection.quote(JSON.generate(bad))} WHERE id = #{id}"
      )
      assert_raises(ActiveRecord::Encryption::Errors::Decryption) { patient.find(id).ssn }
    end
  end

  def test_rotation_old_rows_read_and_resaving_moves_them
    v1 = key_file(@dir, "v1")
    v2 = key_file(@dir, "v2")
    old = model(Dekbox::KeyProvider.new(keys: { "v1" => v1 }))
    id = old.create!(ssn: "rotate me").id
    assert_equal "v1", header_token(id)[3, 2]
    rotated = model(Dekbox::KeyProvider.new(keys: { "v1" => v1, "v2" => v2 }, primary: "v2"))
    row = rotated.find(id)
    assert_equal "rotate me", row.ssn
    row.update!(ssn: "rotate me")
    row.encrypt
    assert_equal "v2", header_token(id)[3, 2], "re-saving seals under the new primary"
    assert_equal "rotate me", model(Dekbox::KeyProvider.new(keys: { "v2" => v2 })).find(id).ssn

    # A value whose key the keyring no longer holds raises UnknownKeyError,
    # not "cannot decrypt" (which Rails' own previous schemes and
    # support_unencrypted_data would turn into a quiet failure).
    other = model(Dekbox::KeyProvider.new(keys: { "v1" => v1 })).create!(ssn: "still on v1").id
    e = assert_raises(Dekbox::UnknownKeyError) do
      model(Dekbox::KeyProvider.new(keys: { "v2" => v2 })).find(other).ssn
    end
    assert_match(/v1/, e.message)
    ActiveRecord::Encryption.config.support_unencrypted_data = true
    begin
      assert_raises(Dekbox::UnknownKeyError) { model(Dekbox::KeyProvider.new(keys: { "v2" => v2 })).find(other).ssn }
    ensure
      ActiveRecord::Encryption.config.support_unencrypted_data = false
    end
  end

  def test_tenant_lambda_isolates_tenants
    provider = Dekbox::KeyProvider.new(key: key_file(@dir, "v1"), context: -> { { "tenant" => Tenant.current.to_s } })
    patient = model(provider)
    id = Tenant.with("a") { patient.create!(ssn: "tenant a's").id }
    assert_equal "tenant a's", Tenant.with("a") { patient.find(id).ssn }
    assert_raises(ActiveRecord::Encryption::Errors::Decryption) { Tenant.with("b") { patient.find(id).ssn } }
    # One hash changed in place between calls: each call uses what it holds then.
    shared = { "tenant" => "a" }
    mutable = model(Dekbox::KeyProvider.new(key: key_file(@dir, "v2"), context: -> { shared }))
    id_a = mutable.create!(ssn: "a's").id
    shared["tenant"] = "b"
    id_b = mutable.create!(ssn: "b's").id
    assert_equal "b's", mutable.find(id_b).ssn
    assert_raises(ActiveRecord::Encryption::Errors::Decryption) { mutable.find(id_a).ssn }
    shared["tenant"] = "a"
    assert_equal "a's", mutable.find(id_a).ssn
    assert_raises(ActiveRecord::Encryption::Errors::Decryption) { mutable.find(id_b).ssn }
    prepared = model(Dekbox::KeyProvider.new(key: key_file(@dir, "v3"), context: Dekbox::Context.new("tenant" => "a")))
    assert_equal "prepared", prepared.find(prepared.create!(ssn: "prepared").id).ssn
    # No tenant set: an error, not values sealed under an empty context.
    strict = model(Dekbox::KeyProvider.new(key: key_file(@dir, "v1"),
                                           context: -> { Tenant.current && { "tenant" => Tenant.current } }))
    assert_raises(Dekbox::InvalidArgumentError) { strict.create!(ssn: "nobody's") }
    strict_id = Tenant.with("a") { strict.create!(ssn: "a's").id }
    assert_equal "a's", Tenant.with("a") { strict.find(strict_id).ssn }
    # A context that cannot be built is raised as it is, not as "cannot decrypt".
    bad = model(Dekbox::KeyProvider.new(key: key_file(@dir, "v1"), context: -> { { "dekbox:purpose" => "x" } }))
    assert_raises(Dekbox::MalformedError) { bad.create!(ssn: "x") }
  end

  def test_unencrypted_rows_and_rails_envelope_provider_as_a_previous_scheme
    rails = ActiveRecord::Encryption::EnvelopeEncryptionKeyProvider.new
    legacy = model(rails)
    legacy_id = legacy.create!(ssn: "written by rails").id
    ActiveRecord::Base.connection.execute("INSERT INTO patients (ssn) VALUES ('plain text')")
    plain_id = ActiveRecord::Base.connection.select_value("SELECT max(id) FROM patients")
    provider = Dekbox::KeyProvider.new(key: key_file(@dir, "v1"))
    patient = model(provider, previous: { key_provider: rails })
    assert_equal "written by rails", patient.find(legacy_id).ssn
    ActiveRecord::Encryption.config.support_unencrypted_data = true
    begin
      assert_equal "plain text", model(provider).find(plain_id).ssn
    ensure
      ActiveRecord::Encryption.config.support_unencrypted_data = false
    end
    new_id = patient.create!(ssn: "written by dekbox").id
    assert_equal 0x02, header_token(new_id).getbyte(0)
    assert_equal "written by dekbox", patient.find(new_id).ssn
  end

  def test_threads_share_a_provider_and_a_forked_child_writes_rows_the_parent_reads
    provider = Dekbox::KeyProvider.new(key: key_file(@dir, "v1"))
    encryptor = ActiveRecord::Encryption.encryptor
    # 8 threads seal and open through one provider at once (the in-memory
    # database is one connection's, so rows are written afterwards).
    sealed = 8.times.map do |t|
      Thread.new do
        20.times.map do |i|
          value = encryptor.encrypt("#{t}-#{i}", key_provider: provider)
          raise "thread #{t} read back a wrong value" unless encryptor.decrypt(value, key_provider: provider) == "#{t}-#{i}"

          ["#{t}-#{i}", value]
        end
      end
    end.flat_map(&:value)
    assert_equal 1, provider.box.cache_stats.data_keys_generated
    patient = model(provider)
    ids = sealed.map do |ssn, value|
      ActiveRecord::Base.connection.execute(
        "INSERT INTO patients (ssn) VALUES (#{ActiveRecord::Base.connection.quote(value)})"
      )
      [ActiveRecord::Base.connection.select_value("SELECT max(id) FROM patients"), ssn]
    end
    ids.each { |id, ssn| assert_equal ssn, patient.find(id).ssn }
    parent_token = header_token(ids.first.first)
    reader, writer = IO.pipe
    pid = fork do
      reader.close
      ActiveRecord::Base.connection_pool.disconnect!
      # The child seals under its own data key; it reports the value it wrote.
      key = provider.encryption_key
      value = ActiveRecord::Encryption.encryptor.encrypt("from the child", key_provider: provider)
      writer.write([value, key.public_tags.encrypted_data_key].map { |s| [s].pack("m0") }.join("\n"))
      writer.close
      exit!(0)
    end
    writer.close
    value, child_token = reader.read.split("\n").map { |s| s.unpack1("m0") }
    _, status = Process.wait2(pid)
    assert status.success?
    refute_equal parent_token, child_token, "a forked child uses a data key of its own"
    assert_equal "from the child", ActiveRecord::Encryption.encryptor.decrypt(value, key_provider: provider)
  end
end
