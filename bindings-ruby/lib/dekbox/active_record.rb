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
  class KeyProvider
    # box: a Dekbox::Box, or the options to build one (key:, keys:, primary:,
    # endpoint:, region:, cache:, ...). context: a Hash, or a lambda evaluated
    # on every call (tenant isolation: a row sealed under tenant A's context
    # does not open under tenant B's).
    def initialize(box = nil, context: nil, **box_options)
      require "active_record/encryption" unless defined?(::ActiveRecord::Encryption::Key)
      unless context.nil? || context.is_a?(Hash) || context.is_a?(Dekbox::Context) || context.respond_to?(:call)
        raise TypeError, "context must be a Hash, a Dekbox::Context or a lambda returning one"
      end

      @box = box || Box.new(box_options.delete(:key), **box_options)
      @context = context.is_a?(Hash) ? Dekbox::Context.new(context) : context
      @contexts = {}
    end

    # Contexts built for a lambda's hashes, by content: tenants repeat, and
    # building one costs more than the rest of a key lookup.
    CONTEXT_CACHE_SIZE = 4096

    attr_reader :box

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
end
