//! `uniffi-bindgen`, kept out of the library crate (its CLI dependencies add
//! minutes to a cold build). Used by bindings-ruby's Rakefile.

fn main() {
    uniffi::uniffi_bindgen_main()
}
