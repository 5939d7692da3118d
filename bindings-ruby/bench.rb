# frozen_string_literal: true

# dekbox for Ruby against the native alternatives, measured in one run:
#   ./scripts/bench.sh --ruby      (builds and installs the gem, then runs this)
#
# 1. Dekbox::Box (local key, cached data key, binary form, a context and an
#    aad) against OpenSSL::Cipher aes-256-gcm with a fixed key and a random IV
#    per message, at 64 B, 1 KiB and 64 KiB: medians of interleaved rounds.
# 2. Active Record: 2,000 create + find round trips of a model with one
#    encrypted attribute, with Dekbox::KeyProvider against Rails' own
#    EnvelopeEncryptionKeyProvider (a fresh data key per record).
#    Then the encryption alone: Active Record's Encryptor sealing and opening
#    one value with each provider, no database.
require "openssl"
require "tmpdir"
require "dekbox"

def per_call(rounds: 15, budget: 0.6)
  n = 1
  loop do
    t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    n.times { yield }
    break if Process.clock_gettime(Process::CLOCK_MONOTONIC) - t > budget / rounds / 4

    n *= 2
  end
  n
end

# Median seconds per call of each block, interleaved (a, b, a, b, ...).
def compare(*blocks, rounds: 15)
  sizes = blocks.map { |b| per_call(rounds: rounds, &b) }
  samples = blocks.map { [] }
  rounds.times do
    blocks.each_with_index do |b, i|
      t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      sizes[i].times { b.call }
      samples[i] << (Process.clock_gettime(Process::CLOCK_MONOTONIC) - t) / sizes[i]
    end
  end
  samples.map { |s| s.sort[s.size / 2] }
end

ctx = Dekbox::Context.new("tenant" => "acme")
aad = "customers/42/email"
box = Dekbox::Box.new("insecure-test-key")
key = OpenSSL::Random.random_bytes(32)
seal = lambda do |pt|
  c = OpenSSL::Cipher.new("aes-256-gcm").encrypt
  c.key = key
  iv = c.random_iv
  c.auth_data = aad
  iv + c.update(pt) + c.final + c.auth_tag
end
open = lambda do |ct|
  c = OpenSSL::Cipher.new("aes-256-gcm").decrypt
  c.key = key
  c.iv = ct[0, 12]
  c.auth_tag = ct[-16..]
  c.auth_data = aad
  c.update(ct[12...-16]) + c.final
end

puts "Dekbox::Box (local key, cached data key) vs OpenSSL::Cipher aes-256-gcm, same run, one thread"
printf("%8s %5s %14s %14s %12s\n", "size", "op", "dekbox", "OpenSSL", "dekbox/OpenSSL")
[64, 1024, 64 * 1024].each do |size|
  pt = Random.bytes(size)
  sealed = box.encrypt(pt, context: ctx, aad: aad)
  ct = seal.call(pt)
  d_seal, o_seal = compare(-> { box.encrypt(pt, context: ctx, aad: aad) }, -> { seal.call(pt) })
  d_open, o_open = compare(-> { box.decrypt(sealed, context: ctx, aad: aad) }, -> { open.call(ct) })
  [["seal", d_seal, o_seal], ["open", d_open, o_open]].each do |op, d, o|
    printf("%8d %5s %11.2f µs %11.2f µs %12.2fx\n", size, op, d * 1e6, o * 1e6, d / o)
    puts "RATIO lang=ruby size=#{size} op=#{op} dekbox_us=#{(d * 1e6).round(3)} openssl_us=#{(o * 1e6).round(3)} ratio=#{(d / o).round(3)}"
  end
end

vendor = ENV["DEKBOX_RAILS_LIB"]
if vendor.nil?
  puts "\nDEKBOX_RAILS_LIB not set: skipping the Active Record comparison (./scripts/bench.sh --ruby sets it)"
  exit
end
require_relative "test/ar_helper" # the vendored Active Record, as the tests load it

def round_trips(klass, n)
  t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  n.times { |i| klass.find(klass.create!(ssn: "123-45-#{i}").id).ssn }
  Process.clock_gettime(Process::CLOCK_MONOTONIC) - t
end

provider = Dekbox::KeyProvider.new(key: "insecure-test-key")
dekbox_model = encrypted_model("people", provider)
rails_model = encrypted_model("people", ActiveRecord::Encryption::EnvelopeEncryptionKeyProvider.new)
round_trips(dekbox_model, 50)
round_trips(rails_model, 50)
d = []
r = []
10.times do
  d << round_trips(dekbox_model, 200)
  r << round_trips(rails_model, 200)
end
d = d.sum
r = r.sum
stats = provider.box.cache_stats
puts "\nActive Record, 2,000 create + find round trips (interleaved in 10 rounds)"
printf("  Dekbox::KeyProvider             %7.1f ms  (%.1f µs a record; data keys generated: %d, KMS calls: %d)\n",
       d * 1e3, d * 1e6 / 2000, stats.data_keys_generated, stats.kms_calls)
printf("  EnvelopeEncryptionKeyProvider   %7.1f ms  (%.1f µs a record; a fresh data key per record)\n", r * 1e3, r * 1e6 / 2000)
printf("  dekbox/Rails time: %.2fx\n", d / r)
puts "RATIO lang=ruby op=active-record-round-trip dekbox_ms=#{(d * 1e3).round(1)} rails_ms=#{(r * 1e3).round(1)} ratio=#{(d / r).round(3)}"

# The encryption itself, without the database: Active Record's Encryptor
# sealing and opening one attribute value with each key provider.
encryptor = ActiveRecord::Encryption::Encryptor.new
rails_provider = ActiveRecord::Encryption::EnvelopeEncryptionKeyProvider.new
value = "123-45-6789"
d_seal, r_seal = compare(-> { encryptor.encrypt(value, key_provider: provider) },
                         -> { encryptor.encrypt(value, key_provider: rails_provider) })
d_sealed = encryptor.encrypt(value, key_provider: provider)
r_sealed = encryptor.encrypt(value, key_provider: rails_provider)
d_open, r_open = compare(-> { encryptor.decrypt(d_sealed, key_provider: provider) },
                         -> { encryptor.decrypt(r_sealed, key_provider: rails_provider) })
puts "\nActive Record's Encryptor, one attribute value, no database"
[["encrypt", d_seal, r_seal], ["decrypt", d_open, r_open]].each do |op, dk, rl|
  printf("  %-8s Dekbox::KeyProvider %6.2f µs   EnvelopeEncryptionKeyProvider %6.2f µs   %.2fx\n",
         op, dk * 1e6, rl * 1e6, dk / rl)
  puts "RATIO lang=ruby op=active-record-#{op} dekbox_us=#{(dk * 1e6).round(3)} rails_us=#{(rl * 1e6).round(3)} ratio=#{(dk / rl).round(3)}"
end

# Deterministic attributes: find_by on an email with Rails' own
# deterministic_key against Dekbox::KeyProvider with a root (issue 15's
# parity target), 1,000 rows each, lookups interleaved.
ActiveRecord::Schema.define do
  create_table(:det_rails, force: true) { |t| t.string :email, index: true }
  create_table(:det_dekbox, force: true) { |t| t.string :email, index: true }
end
root_box = Dekbox::Box.new("insecure-test-key")
rooted = Dekbox::KeyProvider.new(key: "insecure-test-key", root: root_box.create_root("r1"))
det_rails = Class.new(ActiveRecord::Base) do
  self.table_name = "det_rails"
  define_singleton_method(:name) { "DetRails" }
  encrypts :email, deterministic: true
end
det_dekbox = Class.new(ActiveRecord::Base) do
  self.table_name = "det_dekbox"
  define_singleton_method(:name) { "DetDekbox" }
  encrypts :email, deterministic: true, key_provider: rooted
end
1000.times do |i|
  det_rails.create!(email: "user#{i}@example.com")
  det_dekbox.create!(email: "user#{i}@example.com")
end
lookups = ->(klass) { 200.times { |i| klass.find_by(email: "user#{(i * 7) % 1000}@example.com") || raise("not found") } }
dr, rr = compare(-> { lookups.call(det_dekbox) }, -> { lookups.call(det_rails) })
puts "\nActive Record find_by(email:) on a deterministic attribute, 1,000 rows (200 lookups a sample)"
printf("  Dekbox::KeyProvider (root)   %7.1f µs a lookup\n", dr * 1e6 / 200)
printf("  Rails deterministic_key      %7.1f µs a lookup\n", rr * 1e6 / 200)
printf("  dekbox/Rails time: %.2fx\n", dr / rr)
puts "RATIO lang=ruby op=active-record-find-by-deterministic dekbox_us=#{(dr * 1e6 / 200).round(2)} rails_us=#{(rr * 1e6 / 200).round(2)} ratio=#{(dr / rr).round(3)}"

# Stored value sizes (bytes in the column) for the same fields.
puts "\nActive Record stored value sizes (bytes): Rails' own providers vs Dekbox::KeyProvider"
printf("  %7s %14s %14s %16s %16s\n", "field", "Rails default", "Rails envelope", "dekbox provider", "dekbox determ.")
require "securerandom"
[16, 64, 1024].each do |n|
  v = SecureRandom.alphanumeric(n) # not "a" * n: Active Record compresses large values
  sizes = [ActiveRecord::Encryption::DerivedSecretKeyProvider.new("p" * 32), rails_provider, provider].map do |kp|
    encryptor.encrypt(v, key_provider: kp).bytesize
  end
  det = encryptor.encrypt(v, key_provider: rooted.deterministic, cipher_options: { deterministic: true }).bytesize
  printf("  %5d B %14d %14d %16d %16d\n", n, *sizes, det)
  puts "SIZE lang=ruby field=#{n} rails_default=#{sizes[0]} rails_envelope=#{sizes[1]} dekbox_provider=#{sizes[2]} dekbox_deterministic=#{det}"
end
