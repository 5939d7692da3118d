# frozen_string_literal: true

# AWS KMS through moto on 127.0.0.1 (started by ./scripts/test.sh), counting
# the calls that reach it at the fault proxy; on the installed gem.
require "minitest/autorun"
require "json"
require "net/http"
require "open3"
require "dekbox"

require_relative "ar_helper"

class AwsTest < Minitest::Test
  def env(name)
    ENV.fetch(name) { flunk "#{name} is not set: run ./scripts/test.sh, which starts moto and the fault proxy" }
  end

  # Key administration through botocore (the test's Python, like the CLI tests).
  def botocore(script, *args)
    out, err, st = Open3.capture3(env("DEKBOX_PYTHON"), "-c", <<~PY + script, env("DEKBOX_TEST_MOTO_URL"), *args)
      import base64, json, sys, botocore.session
      kms = botocore.session.get_session().create_client("kms", region_name="us-east-1", endpoint_url=sys.argv[1],
          aws_access_key_id="testing", aws_secret_access_key="testing")
    PY
    assert st.success?, err
    out
  end

  def create_key
    botocore('print(kms.create_key(Description="ruby")["KeyMetadata"]["Arn"])').strip
  end

  def proxy(path, body = nil)
    uri = URI(env("DEKBOX_TEST_FAULT_PROXY_URL") + path)
    res = body ? Net::HTTP.post(uri, JSON.generate(body), "Content-Type" => "application/json") : Net::HTTP.get_response(uri)
    JSON.parse(res.body)
  end

  def forwarded(action)
    proxy("/__stats")["forwarded"].fetch("TrentService.#{action}", 0)
  end

  def setup
    ENV["AWS_ACCESS_KEY_ID"] = "testing"
    ENV["AWS_SECRET_ACCESS_KEY"] = "testing"
    ENV["AWS_EC2_METADATA_DISABLED"] = "true"
  end

  def test_two_hundred_active_record_rows_cost_one_generate_and_a_cold_reader_one_decrypt
    arn = create_key
    endpoint = env("DEKBOX_TEST_FAULT_PROXY_URL")
    proxy("/__reset", {})
    model = ->(provider) { encrypted_model("people", provider) }
    writer = model.call(Dekbox::KeyProvider.new(key: "aws-kms://#{arn}", endpoint: endpoint))
    ids = 200.times.map { |i| writer.create!(ssn: "ssn-#{i}").id }
    assert_equal 1, forwarded("GenerateDataKey"), "writes share one cached data key"
    assert_equal 0, forwarded("Decrypt")
    reader = model.call(Dekbox::KeyProvider.new(key: "aws-kms://#{arn}", endpoint: endpoint))
    ids.each_with_index { |id, i| assert_equal "ssn-#{i}", reader.find(id).ssn }
    assert_equal 1, forwarded("Decrypt"), "a cold reader unwraps the data key once"
  end

  def test_box_round_trip_wrong_context_and_kms_errors
    arn = create_key
    box = Dekbox::Box.new("aws-kms://#{arn}", endpoint: env("DEKBOX_TEST_MOTO_URL"))
    token = box.encrypt("via kms", context: { "tenant" => "a" }, text: true)
    cold = Dekbox::Box.new("aws-kms://#{arn}", endpoint: env("DEKBOX_TEST_MOTO_URL"))
    assert_equal "via kms".b, cold.decrypt(token, context: { "tenant" => "a" })
    assert_raises(Dekbox::AuthenticationError) do
      Dekbox::Box.new("aws-kms://#{arn}", endpoint: env("DEKBOX_TEST_MOTO_URL")).decrypt(token, context: { "tenant" => "b" })
    end
    missing = Dekbox::Box.new("aws-kms://arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
                              endpoint: env("DEKBOX_TEST_MOTO_URL"))
    assert_raises(Dekbox::KeyNotFound) { missing.encrypt("x") }
  end

  def test_throttling_and_server_errors_are_retried
    arn = create_key
    box = Dekbox::Box.new("aws-kms://#{arn}", endpoint: env("DEKBOX_TEST_FAULT_PROXY_URL"),
                                              cache: Dekbox::CacheConfig.disabled)
    proxy("/__reset", {})
    proxy("/__fault", { "throttle" => 0.2, "error500" => 0.1, "seed" => 5 })
    begin
      10.times { |i| assert_equal "v#{i}".b, box.decrypt(box.encrypt("v#{i}")) }
      faults = proxy("/__stats")["faults"]
      assert_operator faults.fetch("throttle", 0) + faults.fetch("error500", 0), :>, 0, "faults were injected"
    ensure
      proxy("/__reset", {})
    end
  end

  def test_kms_encrypted_values_migrate
    arn = create_key
    context = { "model_name" => "User", "model_id" => "42" }
    # What kms_encrypted stores: "v1:" + base64 of a GenerateDataKey blob.
    out = botocore(<<~PY, arn)
      r = kms.generate_data_key(KeyId=sys.argv[2], KeySpec="AES_256",
          EncryptionContext={"model_name": "User", "model_id": "42"})
      print(json.dumps({"stored": "v1:" + base64.b64encode(r["CiphertextBlob"]).decode(),
                        "key": r["Plaintext"].hex()}))
    PY
    value = JSON.parse(out)
    box = Dekbox::Box.new("aws-kms://#{arn}", endpoint: env("DEKBOX_TEST_MOTO_URL"))
    assert_equal [value["key"]].pack("H*"), box.unwrap_kms_encrypted(value["stored"], context: context)
    assert_raises(Dekbox::AuthenticationError) do
      box.unwrap_kms_encrypted(value["stored"], context: context.merge("model_id" => "43"))
    end
    assert_raises(Dekbox::MalformedError) { box.unwrap_kms_encrypted("x1:abc", context: context) }
  end

  def test_other_ruby_threads_run_while_one_waits_on_kms
    arn = create_key
    proxy("/__reset", {})
    proxy("/__fault", { "delay" => 1.0 })
    box = Dekbox::Box.new("aws-kms://#{arn}", endpoint: env("DEKBOX_TEST_FAULT_PROXY_URL"))
    ticks = 0
    ticker = Thread.new { loop { ticks += 1; sleep 0.01 } }
    begin
      box.encrypt("x") # a GenerateDataKey that takes a second at the proxy
    ensure
      ticker.kill
      proxy("/__reset", {})
    end
    assert_operator ticks, :>, 30, "the GVL was held during the KMS call"
  end
end
