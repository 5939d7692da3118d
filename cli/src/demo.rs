//! `dekbox demo`: the main job on a throwaway local key. Seals records for
//! two tenants, opens them, shows tenant isolation and row binding, rotates to
//! a second key with a rewrap, and prints the cache counters. It checks every
//! step and fails loudly if one does not hold.

use crate::CliError;
use crate::keys::keygen;
use crate::progress::Progress;
use dekbox_core::keyring::Keyring;
use dekbox_core::provider::{self, ProviderOptions};
use dekbox_core::{EncryptionContext, Engine, Error, Form};
use dekbox_transport::{OsEnvironment, system_now};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

const TENANTS: [&str; 2] = ["acme", "globex"];

fn check(ok: bool, what: &str) -> Result<(), CliError> {
    if ok {
        Ok(())
    } else {
        Err(CliError::Io(format!("demo check failed: {what}")))
    }
}

fn ms(t: Instant) -> String {
    format!("{:.1} ms", t.elapsed().as_secs_f64() * 1e3)
}

pub fn run(records: usize) -> Result<ExitCode, CliError> {
    check(records >= 2, "--records must be at least 2")?;
    let dir =
        tempfile::tempdir().map_err(|e| CliError::Io(format!("cannot create a temp dir: {e}")))?;
    println!("dekbox demo: envelope encryption on a throwaway local key\n");

    println!("1. key");
    let v1 = keygen(&dir.path().join("v1.key"), false)?;
    println!("   created local key v1: {v1} (mode 0600)");
    let k1 = provider::from_uri(&v1, Arc::new(OsEnvironment), &ProviderOptions::default())?;
    let engine = Engine::builder()
        .keyring(Keyring::builder().add("v1", k1.clone()).build()?)
        .build()?;

    let contexts: Vec<EncryptionContext> = TENANTS
        .iter()
        .map(|t| EncryptionContext::from_pairs([("tenant", *t)]))
        .collect::<Result<_, _>>()?;
    let record = |i: usize| format!("customer{i}@{}.example", TENANTS[i % 2]);
    let aad = |i: usize| format!("customers/{i}/email");

    println!(
        "\n2. sealing {records} customer records for tenants {} and {}",
        TENANTS[0], TENANTS[1]
    );
    println!(
        "   context tenant=<name> (bound at the key wrap and in the data), aad customers/<id>/email (binds the row)"
    );
    let t = Instant::now();
    let mut progress = Progress::new(records as u64, "seal");
    let mut sealed = Vec::with_capacity(records);
    for i in 0..records {
        sealed.push(engine.encrypt_local(
            record(i).as_bytes(),
            &contexts[i % 2],
            aad(i).as_bytes(),
            Form::Text,
            system_now(),
        )?);
        progress.inc();
    }
    progress.finish();
    let avg = sealed.iter().map(Vec::len).sum::<usize>() / records;
    println!(
        "   sealed {records} records in {} (text form, {avg} bytes each on average)",
        ms(t)
    );
    let sample = String::from_utf8_lossy(&sealed[0]);
    println!("   record 0: {}...", &sample[..sample.len().min(72)]);
    let writes = engine.cache_stats();

    println!("\n3. opening them");
    let t = Instant::now();
    let mut opened = 0;
    for (i, s) in sealed.iter().enumerate() {
        if engine.decrypt_local(s, &contexts[i % 2], aad(i).as_bytes(), system_now())?
            == record(i).as_bytes()
        {
            opened += 1;
        }
    }
    println!("   opened {opened}/{records} records in {}", ms(t));
    check(opened == records, "every record opens")?;
    let reads = engine.cache_stats();

    println!("\n4. isolation");
    let cross = engine.decrypt_local(&sealed[0], &contexts[1], aad(0).as_bytes(), system_now());
    check(
        cross == Err(Error::Authentication),
        "another tenant's context is refused",
    )?;
    println!(
        "   tenant {} opening tenant {}'s record: refused ({})",
        TENANTS[1],
        TENANTS[0],
        Error::Authentication
    );
    let moved = engine.decrypt_local(&sealed[0], &contexts[0], aad(2).as_bytes(), system_now());
    check(
        moved == Err(Error::Authentication),
        "a ciphertext moved to another row is refused",
    )?;
    println!("   record 0 pasted into row 2 (aad customers/2/email): refused");

    println!("\n5. rotation to a new key");
    let v2 = keygen(&dir.path().join("v2.key"), false)?;
    println!("   created local key v2: {v2}");
    let k2 = provider::from_uri(&v2, Arc::new(OsEnvironment), &ProviderOptions::default())?;
    let rotated = Engine::builder()
        .keyring(
            Keyring::builder()
                .add("v1", k1)
                .add("v2", k2.clone())
                .primary("v2")
                .build()?,
        )
        .build()?;
    let t = Instant::now();
    let mut progress = Progress::new(records as u64, "rewrap");
    let mut rewrapped = Vec::with_capacity(records);
    for (i, s) in sealed.iter().enumerate() {
        let r = rotated.rewrap_local(s, &contexts[i % 2], system_now())?;
        check(r.changed, "rewrap moves each record")?;
        rewrapped.push(r.message);
        progress.inc();
    }
    progress.finish();
    let rot = rotated.cache_stats();
    println!(
        "   rewrapped {records} records to v2 in {} without re-encrypting their data ({} key operations)",
        ms(t),
        rot.provider_calls
    );
    let only_v2 = Engine::builder()
        .keyring(Keyring::builder().add("v2", k2).build()?)
        .build()?;
    let mut ok = 0;
    for (i, s) in rewrapped.iter().enumerate() {
        if only_v2.decrypt_local(s, &contexts[i % 2], aad(i).as_bytes(), system_now())?
            == record(i).as_bytes()
        {
            ok += 1;
        }
    }
    check(
        ok == records,
        "a keyring holding only v2 opens every rewrapped record",
    )?;
    println!("   a keyring holding only v2 opens {ok}/{records}; v1 can be retired");

    println!("\n6. cache counters");
    println!(
        "   writes: {records} records -> {} data keys ({} provider calls; {} hits, {} misses)",
        writes.data_keys_generated,
        writes.provider_calls,
        writes.encrypt_hits,
        writes.encrypt_misses
    );
    println!(
        "   reads:  {records} records -> {} unwraps ({} hits, {} misses)",
        reads.decrypt_misses, reads.decrypt_hits, reads.decrypt_misses
    );
    check(writes.data_keys_generated == 2, "one data key per tenant")?;
    check(reads.decrypt_misses == 2, "one unwrap per data key")?;
    println!(
        "\ndone: every record round-tripped, tenants isolated, rows bound, rotation complete."
    );
    Ok(ExitCode::SUCCESS)
}
