# frozen_string_literal: true

require "dekbox"

module Dekbox
  # An ActiveRecord::Encryption key provider whose data keys come from dekbox:
  # wrapped by your KMS (or a local key), cached (writes do not call the KMS per
  # record; reading many rows under one data key calls it once), bound to a
  # context, and stored in each value's header (`encrypted_data_key`) naming
  # their key, so rotation works with or without `store_key_references`.
  #
  #   # config/initializers/dekbox.rb
  #   require "dekbox/active_record"
  #   Rails.application.config.active_record.encryption.key_provider =
  #     Dekbox::KeyProvider.new(key: ENV.fetch("DEKBOX_KEY"),
  #                             context: -> { { "tenant" => Current.tenant_id.to_s } })
  #
  #   class Patient < ApplicationRecord
  #     encrypts :ssn                                         # the default provider
  #     encrypts :notes, key_provider: Dekbox::KeyProvider.new(keys: { ... }, primary: "v2")
  #   end
  #
  # Active Record seals each value itself (AES-256-GCM with a random 96-bit
  # IV) under the data key; dekbox counts each use against its cache limits
  # (2^20 messages per data key by default, far below the 2^32 bound for
  # random IVs) and gives a forked worker (Puma, Unicorn) a data key of its own.
  #
  # Deterministic attributes (`encrypts :email, deterministic: true`, what
  # keeps `User.find_by(email:)` working) need the same key in every process
  # and after every restart, which a cached, rotating data key cannot give.
  # Give the provider a root key (`dekbox root create`, kept in credentials
  # or ENV) and it serves them with a key derived from the root, unwrapped
  # once per process (one KMS call):
  #
  #   provider = Dekbox::KeyProvider.new(key: ENV.fetch("DEKBOX_KEY"), root: ENV.fetch("DEKBOX_ROOT"))
  #   config.active_record.encryption.key_provider = provider   # with no deterministic_key configured
  #
  #   class User < ApplicationRecord
  #     encrypts :email, deterministic: true, downcase: true   # a root-derived key
  #     encrypts :notes                                         # per-record data keys
  #   end
  #
  # Rotation: root: [NEW_TOKEN, OLD_TOKEN] (the first is primary) and, for
  # old rows to stay findable, `previous: { deterministic: true, key_provider:
  # provider.deterministic(root: "old-label") }` with
  # `config.active_record.encryption.extend_queries = true`; declare the
  # attribute `deterministic: { fixed: false }` so new values use the new
  # root (Active Record otherwise keeps writing with the oldest scheme), and
  # re-saving a row (`record.encrypt`) moves it. `provider.deterministic(column: "users.email")`
  # gives a column its own key (Rails' own deterministic_key is one key for
  # every column).
  class KeyProvider
    # box: a Dekbox::Box, or the options to build one (key:, keys:, primary:,
    # endpoint:, region:, cache:, ...). context: a Hash, or a lambda evaluated
    # on every call (tenant isolation: a row sealed under tenant A's context
    # does not open under tenant B's).
    #
    # root: a root token ("dekbox:root:v1:<label>:..."), or an Array of them
    # (the first is primary), for deterministic attributes.
    def initialize(box = nil, context: nil, root: nil, **box_options)
      require "active_record/encryption" unless defined?(::ActiveRecord::Encryption::Key)
      unless context.nil? || context.is_a?(Hash) || context.is_a?(Dekbox::Context) || context.respond_to?(:call)
        raise TypeError, "context must be a Hash, a Dekbox::Context or a lambda returning one"
      end
      raise ArgumentError, "give root: to the provider or roots: to the Box, not both" if root && box

      unless root.nil?
        tokens = Array(root)
        raise TypeError, "root must be a token String or an Array of them" unless tokens.all?(String) && tokens.any?

        labels = tokens.map { |t| t.strip.split(":", 5)[3].to_s }
        if labels.uniq.size != labels.size
          raise ArgumentError, "root: tokens must have different labels (got #{labels.inspect})"
        end

        box_options[:roots] = labels.zip(tokens).to_h
        box_options[:primary_root] = labels.first
      end
      @box = box || Box.new(box_options.delete(:key), **box_options)
      @context = context.is_a?(Hash) ? Dekbox::Context.new(context) : context
      @contexts = {}
      @deterministic = {}
      @deterministic_lock = Mutex.new
      @roots = !@box.root_labels[0].empty? # fixed when the Box is built
    end

    # Contexts built for a lambda's hashes, by content: tenants repeat, and
    # building one costs more than the rest of a key lookup.
    CONTEXT_CACHE_SIZE = 4096

    attr_reader :box

    # The key provider of deterministic attributes: a key derived from the
    # root (root: a label; default the primary) for (context, column), the
    # same in every process. Active Record uses it by itself for
    # `deterministic: true` attributes of this provider; call it for
    # `previous:` schemes (an older root) or a per-column key.
    def deterministic(column: "", root: nil)
      unless roots?
        raise Dekbox::CLASSES.fetch("CONFIG"),
              "a deterministic attribute needs Dekbox::KeyProvider.new(..., root: TOKEN): a cached data key " \
              "differs between processes and would break its lookups (`dekbox root create` makes a root)"
      end

      # Active Record asks on every deterministic read and write: a plain
      # lookup first, the lock only to create.
      @deterministic[[column, root]] || @deterministic_lock.synchronize do
        @deterministic[[column, root]] ||= DeterministicKeyProvider.new(self, column: column, root: root)
      end
    end

    # Whether the provider has root keys (it can serve deterministic attributes).
    def roots?
      @roots
    end

    # Internal: the current context (a Dekbox::Context or Hash).
    def context_for_call
      current_context
    end

    # A data key for a new value, with its token in the header.
    def encryption_key
      dk = @box.raw_data_key(context: current_context)
      ::ActiveRecord::Encryption::Key.new(dk.plaintext).tap do |key|
        key.public_tags.encrypted_data_key = dk.wrapped
        if ::ActiveRecord::Encryption.config.store_key_references
          key.public_tags.encrypted_data_key_id = @box.primary_key_name
        end
      end
    end

    # The data key named by a value's header; [] when the header has none or
    # it does not open under this provider's context (tampering, another
    # tenant, or another provider's header such as Rails' envelope one): Active
    # Record then tries its previous: schemes or raises Errors::Decryption.
    # A token naming a key this provider's keyring does not hold raises
    # Dekbox::UnknownKeyError, past Active Record's previous: schemes (which
    # would turn it into "cannot decrypt", and support_unencrypted_data into
    # the ciphertext itself): a key dropped from the keyring too early is loud.
    # Rotate within one keyring (keys: and primary:). A context that cannot
    # be built and KMS failures (access denied, throttled, unavailable) are
    # raised as they are.
    def decryption_keys(encrypted_message)
      token = encrypted_message.headers.encrypted_data_key
      return [] unless token.is_a?(String)

      context = current_context
      begin
        [::ActiveRecord::Encryption::Key.new(@box.open_raw_data_key(token, context: context))]
      rescue Dekbox::AuthenticationError, Dekbox::MalformedError
        []
      end
    end

    private

    def current_context
      return @context unless @context.respond_to?(:call)

      context = @context.call
      if context.nil?
        raise Dekbox::CLASSES.fetch("INVALID_ARGUMENT"),
              "the dekbox context lambda returned nil (no tenant set?); return {} for no context"
      end

      return context if context.is_a?(Dekbox::Context)

      @contexts[context] || remember(context)
    end

    # Keyed by a frozen copy, so a caller changing its hash afterwards cannot
    # change what an entry matches; emptied when full.
    # The Context is built from that copy, never from the caller's hash,
    # which another thread may be changing.
    def remember(context)
      unless context.is_a?(Hash)
        raise TypeError, "the dekbox context lambda must return a Hash, not #{context.class}"
      end

      key = context.to_h { |k, v| [k.dup.freeze, v.dup.freeze] }.freeze
      built = Dekbox::Context.new(key)
      @contexts.clear if @contexts.size >= CONTEXT_CACHE_SIZE
      @contexts[key] = built
    end
  end

  # Keys for Active Record's deterministic encryption, derived from a root key
  # (see KeyProvider#deterministic). Active Record seals deterministic values
  # itself (AES-256-GCM, IV from an HMAC of the value); this provider only
  # gives the key. Keys are derived once per (root, context) and kept.
  class DeterministicKeyProvider
    def initialize(provider, column:, root:)
      raise TypeError, "column must be a String" unless column.is_a?(String)
      raise TypeError, "root must be a String" unless root.nil? || root.is_a?(String)

      @provider = provider
      @column = column.dup.freeze
      @root = root
      @keys = {}
      @lock = Mutex.new
    end

    # Values name their root in a public tag (header "i"): "dekbox-root:<label>".
    TAG_PREFIX = "dekbox-root:"

    # The key of the primary root (or root:) for the current context, tagged
    # with the root's label.
    def encryption_key
      key_for(@root)
    end

    # The key of the root the value names (one KMS unwrap per root, on first
    # use); [] for a value this provider did not write, or one under another
    # root when pinned (Active Record then tries its previous: schemes). A
    # root that is not configured raises Dekbox::UnknownKeyError.
    def decryption_keys(encrypted_message)
      tag = encrypted_message.headers.encrypted_data_key_id
      return [] unless tag.is_a?(String) && tag.start_with?(TAG_PREFIX)

      label = tag.delete_prefix(TAG_PREFIX)
      return [] if @root && label != @root

      [key_for(label)]
    end

    private

    # Keys by root label, then by context object (the provider hands out one
    # Dekbox::Context per distinct context, so identity is enough): read
    # without the lock, written under it.
    def key_for(label)
      context = @provider.context_for_call
      per_root = @keys[label]
      key = per_root && per_root[context]
      return key if key

      root, secret = @provider.box.external_key(column: @column, context: context, root: label)
      key = ::ActiveRecord::Encryption::Key.new(secret)
      key.public_tags.encrypted_data_key_id = "#{TAG_PREFIX}#{root}"
      @lock.synchronize do
        per_root = (@keys[label] ||= {}.compare_by_identity)
        per_root.clear if per_root.size >= KeyProvider::CONTEXT_CACHE_SIZE
        per_root[context] = key
      end
    end
  end

  # Active Record picks the key provider of an attribute in its Scheme. For
  # a `deterministic: true` attribute:
  # - given `key_provider: <a Dekbox::KeyProvider>`, use its root-derived
  #   deterministic provider (a provider without root: raises ConfigError:
  #   per-record data keys would quietly break its lookups);
  # - given no key_provider:, when Rails' own deterministic_key is not
  #   configured and the default provider is a Dekbox::KeyProvider with
  #   roots, use that one's; otherwise Active Record's choice stands (an app
  #   with a deterministic_key keeps it for the attributes it already wrote).
  module DeterministicScheme
    def key_provider
      if deterministic? && @key.nil?
        return @key_provider_param.deterministic if @key_provider_param.is_a?(Dekbox::KeyProvider)

        if @key_provider_param.nil? && !dekbox_rails_deterministic_key?
          default = dekbox_default_provider
          return default.deterministic if default.is_a?(Dekbox::KeyProvider) && default.roots?
        end
      end
      super
    end

    private

    def dekbox_default_provider
      ::ActiveRecord::Encryption.key_provider
    rescue ::ActiveRecord::Encryption::Errors::Configuration
      nil
    end

    # Whether Rails' own deterministic_key is configured (its reader raises
    # when it is not).
    def dekbox_rails_deterministic_key?
      config = ::ActiveRecord::Encryption.config
      return config.has_deterministic_key? if config.respond_to?(:has_deterministic_key?)

      config.deterministic_key.present?
    rescue ::ActiveRecord::Encryption::Errors::Configuration
      false
    end
  end
  ::ActiveRecord::Encryption::Scheme.prepend(DeterministicScheme)
end
