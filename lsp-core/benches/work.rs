//! What proof of work on Node-IDs costs (`lsp_core::Admission::Work`):
//! the time to mint a Node-ID at several difficulties, and to check one.
//!
//! ```sh
//! cargo bench -p lsp-core --bench work -- [--max-bits 16] [--mints 8]
//! ```

use std::time::Instant;

use lsp_core::{Identity, mint_identity, work_bits};

/// What minting and checking a Node-ID's proof of work costs.
#[derive(clap::Parser)]
#[command(name = "work", bin_name = "work")]
struct Args {
    /// The highest difficulty, in bits, to mint at.
    #[arg(long, default_value_t = 16)]
    max_bits: u32,
    /// Node-IDs minted at each difficulty.
    #[arg(long, default_value_t = 8)]
    mints: u32,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    let Args {
        max_bits, mints, ..
    } = clap::Parser::parse();
    // One try: a key generation and its work hash.
    let tries = 20_000u32;
    let t = Instant::now();
    let mut found = 0u32;
    for n in 0..tries {
        let mut secret = [7u8; 32];
        secret[..4].copy_from_slice(&n.to_le_bytes());
        found += work_bits(&Identity::from_secret_bytes(secret).node_id());
    }
    let per_try = t.elapsed().as_secs_f64() / f64::from(tries);
    let ids: Vec<_> = (0..1000u32)
        .map(|n| Identity::from_secret_bytes([(n % 251) as u8; 32]).node_id())
        .collect();
    let t = Instant::now();
    let rounds = 200;
    for _ in 0..rounds {
        for id in &ids {
            found += work_bits(std::hint::black_box(id));
        }
    }
    let per_check = t.elapsed().as_secs_f64() / f64::from(rounds * 1000);
    println!(
        "one try (key generation + work hash): {:.1} µs",
        per_try * 1e6
    );
    println!("one check of a Node-ID: {:.3} µs", per_check * 1e6);
    println!("bits  mean mint (measured, {mints} mints)  expected 2^bits tries");
    for bits in (8..=max_bits).step_by(4) {
        let t = Instant::now();
        for _ in 0..mints {
            let id = mint_identity(bits).expect("random source");
            assert!(work_bits(&id.node_id()) >= bits);
        }
        let mean = t.elapsed().as_secs_f64() / f64::from(mints);
        let expected = f64::from(2u32.pow(bits)) * per_try;
        println!("{bits:>4}  {mean:>10.3} s  {expected:>10.3} s");
    }
    for bits in [20u32, 24] {
        let expected = f64::from(2u32.pow(bits)) * per_try;
        println!(
            "{bits:>4}  {:>10}    {expected:>10.1} s (extrapolated)",
            "-"
        );
    }
    std::hint::black_box(found);
}
