//! The provider contract, checked against the local provider (the same suite
//! runs against AWS KMS on moto in dekbox-transport's tests).

mod common;

use common::T0;
use dekbox_core::op::{Operation, drive, no_network};
use dekbox_core::provider::LocalProvider;

fn run<T>(op: &mut dyn Operation<Output = T>) -> dekbox_core::Result<T> {
    drive(op, || T0, no_network)
}

dekbox_core::provider_conformance! {
    mod local;
    provider: || Arc::new(LocalProvider::insecure_test_key()) as Arc<dyn KeyProvider>,
    other: || Arc::new(LocalProvider::from_key_bytes("local://env/OTHER", &[9; 32]).unwrap()) as Arc<dyn KeyProvider>,
    run: run,
}
