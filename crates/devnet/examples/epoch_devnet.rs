//! Times one devnet epoch on 256 uids with 64 validators weighting all 192
//! servers, state in an SQLite file: the block that runs the epoch (Yuma
//! Consensus plus the transaction writing every uid's row, bonds and stakes)
//! against a plain block and against `run_epoch` alone.
//!
//! `cargo run --release -p medmetric-devnet --example epoch_devnet`

use std::time::{Duration, Instant};

use medmetric_chain::{Chain, Coldkey, Hyperparameters};
use medmetric_core::Hotkey;
use medmetric_devnet::{Devnet, DevnetConfig, DevnetControl};

const UIDS: u16 = 256;
const VALIDATORS: u16 = 64;
const ROUNDS: usize = 7;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs.get(xs.len() / 2).copied().unwrap_or_default()
}

fn bench(label: &str, yuma3: bool) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let config = DevnetConfig {
        hyperparameters: Hyperparameters {
            tempo: 20,
            max_allowed_uids: UIDS,
            max_allowed_validators: VALIDATORS,
            weights_set_rate_limit: 0,
            yuma3_enabled: yuma3,
            liquid_alpha_enabled: yuma3,
            ..Hyperparameters::default()
        },
        ..DevnetConfig::default()
    };
    let chain = Devnet::create(&dir.path().join("bench.sqlite"), &config)?;
    let owner = Coldkey("owner".into());
    let hotkeys: Vec<Hotkey> = (0..UIDS).map(|i| Hotkey(format!("hk{i}"))).collect();
    for (i, hk) in hotkeys.iter().enumerate() {
        chain.burned_register(hk, &owner)?;
        if i < usize::from(VALIDATORS) {
            chain.add_stake(&owner, hk, 1_000_000_000 * (i as u64 + 1))?;
        }
    }
    let servers: Vec<u16> = (VALIDATORS..UIDS).collect();
    let (mut epoch_blocks, mut plain_blocks, mut yuma_only) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let next = chain.status()?.next_epoch_block.unwrap_or(0);
        let head = chain.block()?.number.0;
        if next > head + 1 {
            chain.advance(next - head - 2)?;
            let t = Instant::now();
            chain.advance(1)?;
            plain_blocks.push(t.elapsed());
        }
        if round > 0 {
            for v in 0..VALIDATORS {
                let values: Vec<u16> = servers
                    .iter()
                    .map(|&s| {
                        1 + ((u32::from(s) * 7919 + u32::from(v) * 104_729 + round as u32 * 31)
                            % 65_000) as u16
                    })
                    .collect();
                chain.set_weights(&hotkeys[usize::from(v)], &servers, &values, 0)?;
            }
            let input = chain.epoch_input()?;
            let t = Instant::now();
            medmetric_yuma::run_epoch(&input)?;
            yuma_only.push(t.elapsed());
        }
        let t = Instant::now();
        chain.advance(1)?;
        let took = t.elapsed();
        if round > 0 {
            epoch_blocks.push(took);
        }
    }
    let status = chain.status()?;
    assert!(status.last_epoch_error.is_none(), "{status:?}");
    println!(
        "{label:<28} epoch block {:7.2} ms (min {:6.2})   run_epoch alone {:6.2} ms   plain block {:5.2} ms   [{} uids, {} validators, {} epochs]",
        ms(median(epoch_blocks.clone())),
        ms(epoch_blocks.iter().copied().min().unwrap_or_default()),
        ms(median(yuma_only)),
        ms(median(plain_blocks)),
        UIDS,
        VALIDATORS,
        status.epoch_index,
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    bench("original Yuma", false)?;
    bench("Yuma3 + liquid alpha", true)?;
    Ok(())
}
