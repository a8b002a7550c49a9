//! What the sandbox costs per image: the same model on the same images,
//! run in this process with the bare runtime and through a confined worker
//! (pipe transfer, output checks, everything a validator pays), timed in
//! the same run.
//!
//! ```sh
//! cargo build --release -p medmetric-cli --bin medmetric-worker
//! MEDMETRIC_WORKER=target/release/medmetric-worker \
//!     cargo run --release -p medmetric-eval --example sandbox_overhead
//! ```

use std::time::Instant;

use medmetric_eval::sandbox::{self, Backend, SandboxConfig, Session};
use medmetric_imaging::{GrayImage, Modality, phantom};
use medmetric_model::gate::{self, GateLimits};
use medmetric_model::reference::{self, ReferenceKind};

const IMAGES: usize = 60;
const WARMUP: usize = 5;

fn images(size: u32) -> Vec<GrayImage> {
    (0..IMAGES as u8)
        .map(|i| phantom::generate(Modality::Cxr, size, [i; 32], i % 2 == 0).image)
        .collect()
}

fn per_image(mut run: impl FnMut(&GrayImage), imgs: &[GrayImage]) -> f64 {
    for im in imgs.iter().take(WARMUP) {
        run(im);
    }
    let t = Instant::now();
    for im in imgs {
        run(im);
    }
    t.elapsed().as_secs_f64() * 1e3 / imgs.len() as f64
}

fn main() {
    let worker =
        sandbox::find_worker().expect("set MEDMETRIC_WORKER to the medmetric-worker binary");
    let ort_lib = medmetric_eval::ort::default_library_path();
    println!("model                 backend  bare ms/img  sandbox ms/img  ratio");
    for (kind, size) in [
        (ReferenceKind::TinyUnet, 256),
        (ReferenceKind::TinyUnet, 512),
        (ReferenceKind::Threshold, 256),
    ] {
        let bytes = reference::make(kind, size);
        let report = gate::check_bytes(&bytes, &GateLimits::default()).unwrap();
        let imgs = images(size);
        let mut backends = vec![Backend::Tract];
        if ort_lib.is_some() {
            backends.push(Backend::Ort);
        }
        for backend in backends {
            let bare = match backend {
                Backend::Tract => {
                    let m = medmetric_eval::tract::TractModel::load(&bytes, &report).unwrap();
                    per_image(|im| drop(m.run(im).unwrap()), &imgs)
                }
                Backend::Ort => {
                    medmetric_eval::ort::init_library(ort_lib.as_ref().unwrap()).unwrap();
                    let mut m = medmetric_eval::ort::OrtModel::load(&bytes, &report, 1).unwrap();
                    per_image(|im| drop(m.run(im).unwrap()), &imgs)
                }
            };
            let cfg = SandboxConfig::new(worker.clone(), backend, ort_lib.clone());
            let mut s = Session::start(&cfg, &bytes, &report).unwrap();
            let boxed = per_image(|im| drop(s.run(im).unwrap()), &imgs);
            s.finish();
            println!(
                "{:<21} {:<8} {:>11.3} {:>15.3} {:>6.3}x",
                format!("{} {size}", kind.name()),
                backend.name(),
                bare,
                boxed,
                boxed / bare
            );
        }
    }
}
