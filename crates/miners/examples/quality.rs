//! Measures every red-team strategy on fresh phantom rounds and prints the
//! tables of docs/miners.md.
//!
//! ```text
//! cargo run --release -p medmetric-miners --example quality -- \
//!     [--size 256] [--modality cxr|brain|bone] [--cases 96] [--memoriser-cases 4096]
//! ```
//!
//! For each modality: the time to make each model, its quality (Dice on
//! abnormal images, pixel BCE on normal ones, classification accuracy, mean
//! reward `R_i`, docs/design.md#6-scoring) on an augmented benchmark-like round and on a plain
//! one (the pool as drawn), the memoriser on the pool cases it covers, and
//! the mean tract latency per image.

use std::time::{Duration, Instant};

use medmetric_bench::pools::PhantomPool;
use medmetric_bench::round::quantise16;
use medmetric_eval::tract::TractModel;
use medmetric_imaging::pool::Pool;
use medmetric_imaging::{Case, Modality};
use medmetric_miners::{Factory, Quality, Strategy, evaluate, phantom_cases};
use medmetric_model::gate::{self, GateLimits};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn latency(bytes: &[u8], cases: &[Case]) -> Duration {
    let report = gate::check_bytes(bytes, &GateLimits::default()).expect("gate");
    let model = TractModel::load(bytes, &report).expect("load");
    model.run(&cases[0].image).expect("warm-up");
    let n = cases.len().min(16);
    let t = Instant::now();
    for c in &cases[..n] {
        model.run(&c.image).expect("run");
    }
    t.elapsed() / n as u32
}

fn row(q: &Quality) -> String {
    format!(
        "{:.3} | {:.3} | {:.4} | {:.3} | {:.3}",
        q.dice_abnormal, q.dice_normal, q.bce_normal, q.cls_accuracy, q.reward
    )
}

fn main() {
    let size: u32 = arg("--size").map_or(256, |s| s.parse().expect("--size"));
    let cases: u32 = arg("--cases").map_or(96, |s| s.parse().expect("--cases"));
    let memorised: usize = arg("--memoriser-cases").map_or(4096, |s| s.parse().expect("cases"));
    let modalities: Vec<Modality> = match arg("--modality") {
        Some(m) => vec![m.parse().expect("--modality")],
        None => Modality::ALL.to_vec(),
    };
    for m in modalities {
        let factory = Factory::new(m, size)
            .expect("size")
            .with_memoriser_cases(memorised);
        let aug = phantom_cases(m, size, cases, 9_001, false).expect("round");
        let plain = phantom_cases(m, size, cases / 2, 9_002, true).expect("round");
        println!(
            "\n### {m}, {size}², {cases} augmented / {} plain cases\n",
            cases / 2
        );
        println!(
            "| strategy | made in | bytes | augmented: Dice abn. | Dice norm. | BCE norm. | cls acc. | R | plain: Dice abn. | Dice norm. | BCE norm. | cls acc. | R | latency |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        let mut honest_latency = None;
        for s in Strategy::ALL {
            if s == Strategy::Memoriser && size > 256 {
                continue;
            }
            let t = Instant::now();
            let bytes = factory.make(s, 1).expect("make");
            let made = t.elapsed();
            // load-time is made to be refused (its work hides at load).
            if let Err(e) = gate::check_bytes(&bytes, &GateLimits::default()) {
                println!("| {s} | {made:.2?} | {} | refused: {e} |", bytes.len());
                continue;
            }
            let qa = evaluate(&bytes, &aug).expect("evaluate");
            let qp = evaluate(&bytes, &plain).expect("evaluate");
            let lat = latency(&bytes, &aug);
            if s == Strategy::Honest {
                honest_latency = Some(lat);
            }
            let ratio = honest_latency
                .map(|h| format!(" ({:.1}×)", lat.as_secs_f64() / h.as_secs_f64()))
                .unwrap_or_default();
            println!(
                "| {s} | {made:.2?} | {} | {} | {} | {lat:.2?}{ratio} |",
                bytes.len(),
                row(&qa),
                row(&qp)
            );
            if s == Strategy::Memoriser {
                let pool = PhantomPool::new(m);
                let covered: Vec<Case> = (0..memorised.min(64))
                    .map(|i| {
                        let mut c = pool.load(i, size).expect("pool");
                        quantise16(&mut c.image);
                        c
                    })
                    .collect();
                let q = evaluate(&bytes, &covered).expect("evaluate");
                println!(
                    "| memoriser on {} covered pool cases | | | {} | | | | | | |",
                    covered.len(),
                    row(&q)
                );
            }
        }
    }
}
