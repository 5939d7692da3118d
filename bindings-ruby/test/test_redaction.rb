# frozen_string_literal: true

# No secret in anything formatted: with a known local key, a known AWS
# secret, Google token and Vault token in the environment, #inspect and #to_s
# of every object and error the gem hands out are searched for those
# secrets, raw, as hex and as base64.
require "minitest/autorun"
require "base64"
require "dekbox"

class RedactionTest < Minitest::Test
  LOCAL_KEY = ("\x5a" * 32).b
  AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzRUBYKEY"
  GCP_TOKEN = "ya29.a0AfH6SMBexampleRubyAccessToken0123456789"
  VAULT_TOKEN = "hvs.CAESIexampleRubyVaultToken0123456789abcd"

  def needles(secrets)
    secrets.flat_map do |s|
      [s.unpack1("H*"), Base64.strict_encode64(s), Base64.urlsafe_encode64(s, padding: false), s]
    end
  end

  def assert_clean(what, shown, secrets)
    needles(secrets).each do |n|
      refute_includes shown, n, "#{what} shows a secret"
    end
  end

  VARS = %w[DEKBOX_KEY_B64 AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_EC2_METADATA_DISABLED
            GOOGLE_OAUTH_ACCESS_TOKEN VAULT_ADDR VAULT_TOKEN].freeze

  def setup
    @saved = VARS.to_h { |k| [k, ENV[k]] }
  end

  def teardown
    @saved.each { |k, v| ENV[k] = v }
  end

  def test_no_inspect_or_to_s_shows_a_secret
    ENV["DEKBOX_KEY_B64"] = Base64.strict_encode64(LOCAL_KEY)
    ENV["AWS_ACCESS_KEY_ID"] = "AKIAEXAMPLE"
    ENV["AWS_SECRET_ACCESS_KEY"] = AWS_SECRET
    ENV["AWS_EC2_METADATA_DISABLED"] = "true"
    ENV["GOOGLE_OAUTH_ACCESS_TOKEN"] = GCP_TOKEN
    ENV["VAULT_ADDR"] = "https://vault.example:8200"
    ENV["VAULT_TOKEN"] = VAULT_TOKEN
    ctx = { "tenant" => "acme" }
    box = Dekbox::Box.new("local://env/DEKBOX_KEY_B64")
    dk = box.generate_data_key(context: ctx)
    secrets = [LOCAL_KEY, dk.plaintext, AWS_SECRET, GCP_TOKEN, VAULT_TOKEN]
    sealed = box.encrypt("x", context: ctx)
    shown = []
    [box, Dekbox::Context.new(ctx), box.cache_stats, dk,
     Dekbox::Box.new("aws-kms://arn:aws:kms:eu-west-1:111122223333:key/k"),
     Dekbox::Box.new("gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k"),
     Dekbox::Box.new("vault://transit/keys/app")].each do |obj|
      shown << obj.inspect << obj.to_s
    end
    tampered = sealed.dup
    tampered.setbyte(tampered.bytesize - 1, tampered.getbyte(tampered.bytesize - 1) ^ 1)
    [
      -> { box.decrypt(tampered, context: ctx) },
      -> { box.decrypt(sealed.byteslice(0, 40), context: ctx) },
      -> { box.decrypt(sealed, context: { "tenant" => "x" }) },
      -> { box.unwrap(dk.wrapped, context: { "tenant" => "x" }) },
      -> { Dekbox::Box.new(Base64.strict_encode64(LOCAL_KEY)) },
      -> { Dekbox::Box.new("aws-kms://arn:aws:kms:eu-west-1:111122223333:key/k", endpoint: "http://127.0.0.1:9").encrypt("x", context: ctx) },
    ].each do |call|
      e = assert_raises(Dekbox::Error) { call.call }
      shown << e.inspect << e.to_s << e.message
    end
    shown.each { |s| assert_clean("a formatted value", s, secrets) }
    # The search finds what it looks for.
    assert_raises(Minitest::Assertion) { assert_clean("canary", "key=#{Base64.strict_encode64(LOCAL_KEY)}", secrets) }
  end
end
