require_relative "lib/dekbox/version"

Gem::Specification.new do |s|
  s.name = "dekbox"
  s.version = Dekbox::VERSION
  s.summary = "Envelope encryption with KMS-wrapped, cached data keys (AWS KMS, local keys)"
  s.description = "dekbox seals data with AES-256-GCM under cached data keys wrapped by a KMS. " \
                  "One format, byte-identical with dekbox for Python, Node, Rust and the browser."
  s.authors = ["dekbox"]
  s.license = "Apache-2.0"
  s.required_ruby_version = ">= 3.1"
  # lib/dekbox/libdekbox_ruby.so and dekbox_ruby.rb are built by `rake native`.
  s.files = Dir["lib/**/*.rb"] + Dir["lib/dekbox/libdekbox_ruby.*"] + ["README.md"]
  s.require_paths = ["lib"]
  s.add_dependency "ffi", ">= 1.15"
end
