# frozen_string_literal: true

# dekbox: envelope encryption with KMS-wrapped, cached data keys.
#
#   box = Dekbox::Box.new("local:///etc/dekbox/app.key")   # or "aws-kms://arn:aws:kms:..."
#   token = box.encrypt("alice@example.com", context: { "tenant" => "acme" }, aad: "users/42", text: true)
#   box.decrypt(token, context: { "tenant" => "acme" }, aad: "users/42")   # => "alice@example.com" (binary)
#
# Values are byte-identical with dekbox for Python, Node, Rust and the CLI.
# Errors are Dekbox::Error subclasses with a stable #code; a wrong key,
# context or aad and any tampering all raise Dekbox::AuthenticationError.

require "json"
require "ffi"
require_relative "dekbox/version"
require_relative "dekbox/dekbox_ruby"

module Dekbox
  # Base class of every dekbox failure. #code is a stable string such as
  # "AUTHENTICATION".
  class Error < StandardError
    attr_reader :code

    def initialize(message = nil, code: nil)
      super(message)
      @code = code || (self.class.const_defined?(:CODE) ? self.class::CODE : "ERROR")
    end
  end

  # Exception classes by code, built from dekbox-core's one error table, so
  # every language has the same classes. Misuse of the API (an argument that
  # can never work) is an ArgumentError that also carries #code.
  CLASSES = DekboxRuby.error_table.each_with_object({}) do |row, classes|
    parent = if row.argument_error
               ArgumentError
             elsif row.parent
               const_get(row.parent)
             else
               Error
             end
    klass = Class.new(parent)
    klass.const_set(:CODE, row.code)
    unless klass <= Error
      klass.class_eval do
        attr_reader :code

        def initialize(message = nil, code: self.class::CODE)
          super(message)
          @code = code
        end
      end
    end
    const_set(row.class_name, klass)
    classes[row.code] = klass
  end.freeze

  # Runs a native call, turning a native error into its Dekbox class.
  def self.native
    yield
  rescue DekboxRuby::NativeError::Dekbox => e
    raise CLASSES.fetch(e.code, Error).new(e.message, code: e.code)
  rescue DekboxRuby::InternalError => e
    raise Error.new("internal error in dekbox (a bug; please report it): #{e.message}", code: "ERROR")
  end

  # The per-value calls (encrypt, decrypt, Active Record's data keys) through
  # plain C entry points of the same library: uniffi's generated calls cost
  # about 20 µs each, more than a whole OpenSSL::Cipher message. Each call
  # fills a Rust-owned buffer described by a per-fiber { ptr, len, cap } block,
  # which is read and handed back to dekbox_rb_free at once. The GVL is released
  # around each call.
  module Fast
    extend FFI::Library
    ffi_lib File.join(__dir__, "dekbox", "libdekbox_ruby.#{RbConfig::CONFIG["SOEXT"]}")

    attach_function :dekbox_rb_free, %i[pointer], :void
    attach_function :dekbox_rb_release_box, %i[uint64], :void
    attach_function :dekbox_rb_release_context, %i[uint64], :void
    attach_function :dekbox_rb_context_new, %i[buffer_in size_t pointer pointer], :int32
    attach_function :dekbox_rb_encrypt, %i[uint64 uint64 buffer_in size_t buffer_in size_t uint8 pointer], :int32,
                    blocking: true
    attach_function :dekbox_rb_decrypt, %i[uint64 uint64 buffer_in size_t buffer_in size_t pointer], :int32,
                    blocking: true
    attach_function :dekbox_rb_raw_data_key, %i[uint64 uint64 pointer], :int32, blocking: true
    attach_function :dekbox_rb_open_raw_data_key, %i[uint64 uint64 buffer_in size_t pointer], :int32, blocking: true

    # Runs a call with this fiber's result block, taken out of the fiber for
    # the call's length: a nested call on the same fiber (a signal trap
    # running as the outer call returns) gets a block of its own and cannot
    # free the outer result. Whatever the call left is freed (and wiped) on
    # the way out, also when Thread#raise, Thread#kill or Timeout strikes
    # between the call and the reading of its result.
    def self.guarded
      o = Thread.current[:__dekbox_out] || FFI::MemoryPointer.new(:size_t, 3)
      Thread.current[:__dekbox_out] = nil
      begin
        yield o
      ensure
        dekbox_rb_free(o)
        Thread.current[:__dekbox_out] = o
      end
    end

    # The bytes a call left in out, or the error they describe. (size_t is
    # unsigned long on the LP64 platforms the gem builds for.)
    def self.finish(status, out)
      ptr = out.get_pointer(0)
      bytes = ptr.null? ? "".b : ptr.get_bytes(0, out.get_ulong(FFI.type_size(:size_t)))
      return bytes if status.zero?

      code, message = bytes.force_encoding(Encoding::UTF_8).split("\n", 2)
      raise CLASSES.fetch(code, Error).new(message, code: code)
    end

    def self.encrypt(box, ctx, data, aad, text)
      guarded { |o| finish(dekbox_rb_encrypt(box, ctx, data, data.bytesize, aad, aad.bytesize, text ? 1 : 0, o), o) }
    end

    def self.decrypt(box, ctx, data, aad)
      guarded { |o| finish(dekbox_rb_decrypt(box, ctx, data, data.bytesize, aad, aad.bytesize, o), o) }
    end

    def self.raw_data_key(box, ctx)
      guarded { |o| finish(dekbox_rb_raw_data_key(box, ctx, o), o) }
    end

    def self.open_raw_data_key(box, ctx, token)
      guarded { |o| finish(dekbox_rb_open_raw_data_key(box, ctx, token, token.bytesize, o), o) }
    end

    # A context handle from entries packed as count, then (length, key,
    # length, value) for each, lengths 32-bit big-endian.
    def self.context_new(packed)
      handle = FFI::MemoryPointer.new(:uint64)
      guarded { |o| finish(dekbox_rb_context_new(packed, packed.bytesize, handle, o), o) }
      handle.read_uint64
    end

    # Owns one native handle and releases it when collected. Copies of a Box
    # or Context (dup, clone) share their Handle, so it is released once;
    # none can be marshalled (a handle means nothing in another process).
    class Handle
      attr_reader :value

      def initialize(value, release)
        @value = value
        ObjectSpace.define_finalizer(self, Handle.releaser(release, value))
      end

      def self.releaser(release, value)
        proc { Fast.send(release, value) }
      end

      def marshal_dump
        raise TypeError, "dekbox native objects cannot be marshalled"
      end

      def initialize_copy(_other)
        raise TypeError, "a native handle cannot be copied"
      end
    end
  end
  private_constant :Fast

  # A binary (ASCII-8BIT) copy of bytes given as a String (any encoding).
  def self.bytes(value, name)
    raise TypeError, "#{name} must be a String, not #{value.class}" unless value.is_a?(String)

    value.b
  end

  # A string's bytes for dekbox, which checks they are UTF-8: a String in
  # another encoding is transcoded first.
  def self.utf8_bytes(value)
    return value.b if value.encoding == Encoding::UTF_8 || value.encoding == Encoding::BINARY

    value.encode(Encoding::UTF_8).b
  rescue EncodingError => e
    raise CLASSES.fetch("INVALID_ARGUMENT", ArgumentError), "context: #{e.message}"
  end

  def self.string_hash(value, name)
    raise TypeError, "#{name} must be a Hash of String to String, not #{value.class}" unless value.is_a?(Hash)

    value.each_with_object({}) do |(k, v), h|
      k = k.to_s if k.is_a?(Symbol)
      unless k.is_a?(String) && v.is_a?(String)
        raise TypeError, "#{name} entries must be String => String, got #{k.class} => #{v.class}"
      end

      if h.key?(k)
        raise CLASSES.fetch("INVALID_ARGUMENT"), "#{name} names #{k.inspect} twice (as a String and a Symbol)"
      end

      h[k] = v
    end
  end

  # An encryption context converted once, for reuse: Dekbox::Context.new("tenant" => "acme").
  # Anywhere a context: hash is accepted, a Context is too (and is faster).
  class Context
    def initialize(entries)
      entries = Dekbox.string_hash(entries, "context")
      packed = [entries.size].pack("N")
      entries.each do |k, v|
        k = Dekbox.utf8_bytes(k)
        v = Dekbox.utf8_bytes(v)
        packed << [k.bytesize].pack("N") << k << [v.bytesize].pack("N") << v
      end
      @handle = Fast::Handle.new(Fast.context_new(packed), :dekbox_rb_release_context)
      @entries = entries.freeze
    end

    # The native context (for this library's own calls).
    def handle
      @handle.value
    end

    def marshal_dump
      raise TypeError, "a Dekbox::Context cannot be marshalled; marshal #to_h and build a new one"
    end

    # The entries, as a frozen Hash of String to String.
    def to_h
      @entries
    end

    # The uniffi object for the same context (batch calls).
    def native
      @native ||= Dekbox.native { DekboxRuby::NativeContext.new(@entries) }
    end

    def inspect
      "#<Dekbox::Context #{@entries.keys.inspect}>"
    end

    EMPTY = new({})
  end

  # A Context for a context: argument (nil, a Context, or a Hash).
  def self.context_object(value)
    case value
    when nil then Context::EMPTY
    when Context then value
    else Context.new(value)
    end
  end

  def self.context(value)
    context_object(value).native
  end

  # Data-key cache limits (times in seconds). Limits not given keep dekbox's defaults.
  class CacheConfig
    LIMITS = %i[max_age max_messages max_bytes encrypt_capacity decrypt_capacity decrypt_ttl].freeze

    def initialize(**limits)
      unknown = limits.keys - LIMITS
      raise ArgumentError, "unknown cache limit(s): #{unknown.join(", ")}" unless unknown.empty?

      limits.each do |k, v|
        raise TypeError, "#{k} must be a number, not #{v.class}" unless v.is_a?(Numeric)
      end
      @limits = limits
    end

    # No data-key reuse and no unwrapped-key cache: every call reaches the KMS.
    def self.disabled
      new(max_age: 0, max_messages: 1, max_bytes: 0, encrypt_capacity: 1, decrypt_capacity: 1, decrypt_ttl: 0)
    end

    def to_h
      @limits.dup
    end
  end

  # A data key for sealing data yourself: #plaintext (secret) and #wrapped.
  DataKey = Struct.new(:plaintext, :wrapped) do
    def inspect
      "#<Dekbox::DataKey plaintext=[redacted] wrapped=#{wrapped.bytesize} bytes>"
    end
    alias_method :to_s, :inspect
  end

  # Cache and KMS counters.
  CacheStats = Struct.new(:encrypt_hits, :encrypt_misses, :decrypt_hits, :decrypt_misses, :kms_calls,
                          :data_keys_generated, keyword_init: true)

  # Envelope encryption with cached data keys. Share one Box across threads.
  class Box
    BOOLEAN_OPTIONS = %i[fips accept_json legacy_fallback legacy_allow_key_sized].freeze

    # key: one key URI ("local:///path", "aws-kms://arn:...", "insecure-test-key"),
    # or keys: { "v1" => uri, "v2" => uri } with primary: "v2"; with neither,
    # ENV["DEKBOX_KEY"]. Options: endpoint:, region:, profile:, fips:,
    # grant_tokens:, cache: (Dekbox::CacheConfig), accept_json:,
    # legacy_fallback:, legacy_allow_key_sized:, compat_key:, max_plaintext:,
    # roots: { "r1" => token } with primary_root: (root keys, for compact and
    # deterministic values, blind indexes and Dekbox::KeyProvider's
    # deterministic attributes).
    def initialize(key = nil, keys: nil, primary: nil, endpoint: nil, region: nil, profile: nil, fips: false,
                   grant_tokens: nil, cache: nil, accept_json: false, legacy_fallback: false,
                   legacy_allow_key_sized: false, compat_key: nil, max_plaintext: nil, roots: nil, primary_root: nil)
      options = { key: key, primary: primary, endpoint: endpoint, region: region, profile: profile,
                  compat_key: compat_key, primary_root: primary_root }
      options.each { |k, v| raise TypeError, "#{k} must be a String, not #{v.class}" unless v.nil? || v.is_a?(String) }
      { fips: fips, accept_json: accept_json, legacy_fallback: legacy_fallback,
        legacy_allow_key_sized: legacy_allow_key_sized }.each do |k, v|
        raise TypeError, "#{k} must be true or false, not #{v.inspect}" unless [true, false].include?(v)

        options[k] = v
      end
      options[:keys] = Dekbox.string_hash(keys, "keys") unless keys.nil?
      options[:roots] = Dekbox.string_hash(roots, "roots") unless roots.nil?
      unless grant_tokens.nil?
        unless grant_tokens.is_a?(Array) && grant_tokens.all?(String)
          raise TypeError, "grant_tokens must be an Array of String"
        end

        options[:grant_tokens] = grant_tokens
      end
      unless cache.nil?
        raise TypeError, "cache must be a Dekbox::CacheConfig" unless cache.is_a?(CacheConfig)

        options[:cache] = cache.to_h
      end
      unless max_plaintext.nil?
        raise TypeError, "max_plaintext must be an Integer" unless max_plaintext.is_a?(Integer)

        options[:max_plaintext] = max_plaintext
      end
      @native = Dekbox.native { DekboxRuby::NativeBox.new(JSON.generate(options.compact)) }
      @handle = Fast::Handle.new(@native.fast_handle, :dekbox_rb_release_box)
      @fast = @handle.value
    end

    def marshal_dump
      raise TypeError, "a Dekbox::Box cannot be marshalled; build one in each process"
    end

    # Seals data (a String; text is sealed as its bytes). Returns a binary
    # String, or a UTF-8 "dekbox:v1:..." String with text: true.
    def encrypt(data, context: nil, aad: nil, text: false)
      data = Dekbox.bytes(data, "data")
      aad = aad_bytes(aad)
      ctx = Dekbox.context_object(context) # held in this frame: its finalizer must not run during the call
      out = Fast.encrypt(@fast, ctx.handle, data, aad, text)
      text ? out.force_encoding(Encoding::UTF_8) : out
    end

    # Opens a sealed value (binary or text form). Returns the plaintext as a binary String.
    def decrypt(data, context: nil, aad: nil)
      data = Dekbox.bytes(data, "data")
      aad = aad_bytes(aad)
      ctx = Dekbox.context_object(context) # held in this frame during the call
      Fast.decrypt(@fast, ctx.handle, data, aad)
    end

    # Seals many values under one context in one call (one KMS call at most).
    # aads, if given, has one entry per value.
    def encrypt_many(items, context: nil, aads: nil, text: false)
      out = Dekbox.native do
        @native.encrypt_many(byte_list(items, "items"), Dekbox.context(context), aads && byte_list(aads, "aads"),
                             text ? true : false)
      end
      out.map { |o| text ? o.force_encoding(Encoding::UTF_8) : o.b }
    end

    # Opens many values. Raises the first error, or with return_exceptions: true
    # puts each failure's exception in its place.
    def decrypt_many(items, context: nil, aads: nil, return_exceptions: false)
      rows = Dekbox.native do
        @native.decrypt_many(byte_list(items, "items"), Dekbox.context(context), aads && byte_list(aads, "aads"))
      end
      rows.map do |row|
        next row.plaintext.b if row.plaintext

        error = CLASSES.fetch(row.code, Error).new(row.message, code: row.code)
        raise error unless return_exceptions

        error
      end
    end

    # Moves a sealed value to the primary key without re-encrypting its data;
    # returns it in the form it was given.
    def rewrap(data, context: nil)
      out = Dekbox.native { @native.rewrap(Dekbox.bytes(data, "data"), Dekbox.context(context)) }
      out.start_with?("dekbox:") ? out.force_encoding(Encoding::UTF_8) : out.b
    end

    # A fresh data key under the primary key (not cached), for sealing data yourself.
    def generate_data_key(context: nil)
      dk = Dekbox.native { @native.generate_data_key(Dekbox.context(context)) }
      DataKey.new(dk.plaintext.b, dk.wrapped.b)
    end

    # Unwraps a data key wrapped by keyring key label (or the primary).
    def unwrap(wrapped, context: nil, label: nil)
      raise TypeError, "label must be a String" unless label.nil? || label.is_a?(String)

      Dekbox.native { @native.unwrap(Dekbox.bytes(wrapped, "wrapped"), Dekbox.context(context), label) }.b
    end

    # The data key of a sealed value as a message-key token
    # ("dekbox:key:v1:..."), for a client without KMS access such as a browser
    # page using the dekbox-browser package. SECRET: it opens every message
    # sealed under that data key (all of this context's messages sealed while
    # it was cached) and seals messages this box opens. Hand it out only for a
    # context whose every message the client may read and write.
    def message_data_key(data, context: nil)
      Dekbox.native { @native.message_data_key(Dekbox.bytes(data, "data"), Dekbox.context(context)) }
    end

    # A fresh message-key token for a client to seal uploads with (not cached).
    def new_message_data_key(context: nil)
      Dekbox.native { @native.new_message_data_key(Dekbox.context(context)) }
    end

    # A cached data key for another cipher (Active Record's; see
    # Dekbox::KeyProvider) and its token (#wrapped): store the token beside
    # the data. Each call counts as one message against the cache limits.
    def raw_data_key(context: nil)
      ctx = Dekbox.context_object(context) # held in this frame during the call
      out = Fast.raw_data_key(@fast, ctx.handle)
      DataKey.new(out.byteslice(0, 32), out.byteslice(32..))
    end

    # The data key of a token from #raw_data_key (cached: many rows under one
    # key cost one KMS call).
    def open_raw_data_key(token, context: nil)
      token = Dekbox.bytes(token, "token")
      ctx = Dekbox.context_object(context) # held in this frame during the call
      Fast.open_raw_data_key(@fast, ctx.handle, token)
    end

    # Migration from kms_encrypted: the data key behind one of its
    # `encrypted_kms_key` values ("v1:<base64>"), unwrapped through this box's
    # (AWS KMS) key under kms_encrypted's context, by default
    # { "model_name" => "User", "model_id" => "42" }. Hand it to Lockbox to
    # read the record's fields, then save them through `encrypts`.
    def unwrap_kms_encrypted(value, context:)
      raise TypeError, "value must be a String" unless value.is_a?(String)

      Dekbox.native { @native.unwrap_kms_encrypted(value, Dekbox.context(context)) }.b
    end

    # A new root key, wrapped by keyring key key: (a label; default the
    # primary): its token "dekbox:root:v1:<label>:..." to keep in
    # configuration (roots: { label => token }).
    def create_root(label, key: nil)
      raise TypeError, "label must be a String" unless label.is_a?(String)
      raise TypeError, "key must be a String" unless key.nil? || key.is_a?(String)

      Dekbox.native { @native.create_root(label, key) }
    end

    # Seals data under the primary root for (context, column, aad): a compact
    # value ("dekbox:c1:..." with text: true, about a third of a message), or
    # with deterministic: true one equal for equal input (queryable).
    def encrypt_compact(data, column:, context: nil, aad: nil, deterministic: false, text: false)
      raise TypeError, "column must be a String" unless column.is_a?(String)

      out = Dekbox.native do
        @native.encrypt_compact(Dekbox.bytes(data, "data"), Dekbox.context(context), column, aad_bytes(aad),
                                deterministic ? true : false, text ? true : false)
      end
      text ? out.force_encoding(Encoding::UTF_8) : out.b
    end

    # Opens a compact or deterministic value (it names its root).
    def decrypt_compact(data, column:, context: nil, aad: nil)
      raise TypeError, "column must be a String" unless column.is_a?(String)

      Dekbox.native do
        @native.decrypt_compact(Dekbox.bytes(data, "data"), Dekbox.context(context), column, aad_bytes(aad))
      end.b
    end

    # The blind index (hex; hex: false for bytes) of value under the primary
    # root (or root:) for (context, column): a keyed digest truncated to bits,
    # for equality search in a side column. trim:/casefold: normalize in Rust,
    # the same in every runtime; normalize: is your own hook (a Proc), applied
    # first. slow: true is Argon2id (3 passes, 4 MiB; or [t_cost, m_cost_kib]).
    def blind_index(value, column:, context: nil, bits: 256, trim: false, casefold: false, normalize: nil,
                    slow: false, root: nil, hex: true)
      raise TypeError, "column must be a String" unless column.is_a?(String)
      raise TypeError, "bits must be an Integer" unless bits.is_a?(Integer)

      value = normalize.call(value) if normalize
      argon = case slow
              when true then [3, 4096]
              when false, nil then nil
              else slow.map { |x| Integer(x) }
              end
      out = Dekbox.native do
        @native.blind_index(Dekbox.bytes(value, "value"), Dekbox.context(context), column, bits,
                            trim ? true : false, casefold ? true : false, argon, root)
      end.b
      hex ? out.unpack1("H*") : out
    end

    # The 32-byte key Active Record's deterministic encryption uses for
    # (context, column) under root root: (default the primary), and the
    # root's label: [label, key]. SECRET. See Dekbox::KeyProvider.
    def external_key(column:, context: nil, root: nil)
      k = Dekbox.native { @native.external_key(Dekbox.context(context), column, root) }
      [k.root, k.key.b]
    end

    # The configured root labels, and the primary root's.
    def root_labels
      [@native.root_labels, @native.primary_root]
    end

    # The primary key's label (or URI, when unlabelled).
    def primary_key_name
      @native.primary_key_name
    end

    # Cache and KMS counters.
    def cache_stats
      s = @native.cache_stats
      CacheStats.new(encrypt_hits: s.encrypt_hits, encrypt_misses: s.encrypt_misses, decrypt_hits: s.decrypt_hits,
                     decrypt_misses: s.decrypt_misses, kms_calls: s.kms_calls,
                     data_keys_generated: s.data_keys_generated)
    end

    def inspect
      "#<Dekbox::Box keys=#{@native.key_names.inspect}>"
    end
    alias_method :to_s, :inspect

    private

    def aad_bytes(aad)
      aad.nil? ? "".b : Dekbox.bytes(aad, "aad")
    end

    def byte_list(items, name)
      raise TypeError, "#{name} must be an Array of String, not #{items.class}" unless items.is_a?(Array)

      items.map { |i| Dekbox.bytes(i, name) }
    end
  end
end
