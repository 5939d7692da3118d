# frozen_string_literal: true

# Real Active Record 7.2 from ../shared/vendor (RubyGems is not reachable),
# sqlite3 in memory, set up once for every test file (and bench.rb) that
# needs it.
vendor = ENV.fetch("DEKBOX_RAILS_LIB") { raise "DEKBOX_RAILS_LIB (the unpacked vendor Rails) is not set" }
%w[activesupport activemodel activerecord].each { |g| $LOAD_PATH.unshift File.join(vendor, g, "lib") }
require "active_record"
require "dekbox/active_record"

ActiveRecord::Base.establish_connection(adapter: "sqlite3", database: ":memory:")
ActiveRecord::Migration.verbose = false
ActiveRecord::Schema.define do
  create_table(:patients) { |t| t.string :ssn; t.string :tenant; t.string :notes }
  create_table(:people) { |t| t.string :ssn }
end
ActiveRecord::Encryption.configure(primary_key: "p" * 32, deterministic_key: "d" * 32,
                                   key_derivation_salt: "s" * 32)

# A model class over table with `encrypts :ssn` through provider.
def encrypted_model(table, provider, **encrypts_options)
  Class.new(ActiveRecord::Base) do
    self.table_name = table
    define_singleton_method(:name) { table.to_s.classify }
    encrypts :ssn, key_provider: provider, **encrypts_options
  end
end
