//! Times one epoch on a 256-uid subnet with 64 validators weighting every
//! server (the target is at most 50 ms per epoch in release builds).
//!
//! ```text
//! cargo run --release -p medmetric-yuma --example epoch_bench
//! ```

use std::time::Instant;

use medmetric_yuma::{EpochInput, EpochParams, run_epoch, validator_permits_from_stake};

const UIDS: usize = 256;
const VALIDATORS: usize = 64;
const ROUNDS: u32 = 50;

/// Small deterministic generator so runs are comparable.
struct Lcg(u64);

impl Lcg {
    fn next_u16(&mut self) -> u16 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 48) as u16
    }
}

fn subnet(yuma3: bool, liquid_alpha: bool) -> Result<EpochInput, medmetric_yuma::YumaError> {
    let mut rng = Lcg(42);
    let stakes: Vec<u64> = (0..UIDS)
        .map(|i| {
            if i < VALIDATORS {
                1_000_000_000 + u64::from(rng.next_u16()) * 1_000_000
            } else {
                0
            }
        })
        .collect();
    let params = EpochParams {
        yuma3,
        liquid_alpha,
        max_allowed_validators: VALIDATORS as u16,
        ..EpochParams::default()
    };
    let mut input = EpochInput::with_stakes(&stakes, params);
    input.validator_permit = validator_permits_from_stake(&input)?;
    let servers: Vec<u16> = (VALIDATORS as u16..UIDS as u16).collect();
    for v in 0..VALIDATORS as u16 {
        let values: Vec<u16> = servers.iter().map(|_| rng.next_u16()).collect();
        input.set_weights(v, &servers, &values, 10)?;
    }
    input.current_block = 10;
    input.emission = 1_000_000_000;
    // One warm-up epoch so the timed epochs start from realistic bonds.
    let out = run_epoch(&input)?;
    input.apply(&out);
    input.last_mechanism_step_block = 10;
    input.current_block = 11;
    Ok(input)
}

fn main() -> Result<(), medmetric_yuma::YumaError> {
    for (label, yuma3, liquid) in [
        ("original Yuma", false, false),
        ("Yuma3", true, false),
        ("Yuma3 + liquid alpha", true, true),
    ] {
        let input = subnet(yuma3, liquid)?;
        let start = Instant::now();
        for _ in 0..ROUNDS {
            std::hint::black_box(run_epoch(std::hint::black_box(&input))?);
        }
        let per_epoch = start.elapsed().as_secs_f64() * 1000.0 / f64::from(ROUNDS);
        println!("{label:<22} {UIDS} uids x {VALIDATORS} validators: {per_epoch:.3} ms/epoch");
    }
    Ok(())
}
