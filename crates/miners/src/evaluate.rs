//! Scoring a red-team model the way a validator would see it: gate the
//! bytes, load them in tract, run every image of a phantom round, and
//! summarise the per-image quantities of docs/design.md#6-scoring.

use medmetric_bench::RoundConfig;
use medmetric_bench::pools::PhantomPool;
use medmetric_bench::round::{Anchor, Round, build};
use medmetric_eval::tract::TractModel;
use medmetric_imaging::pool::Pool;
use medmetric_imaging::{Case, Modality};
use medmetric_model::gate::{self, GateLimits};

use crate::MinersError;
use crate::honest::{Example, Quality, quality};

/// The benchmark items of a one-modality phantom round (see
/// [`phantom_round`]) as cases: the image a model sees, the truth mask and
/// the label.
pub fn phantom_cases(
    modality: Modality,
    size: u32,
    cases: u32,
    block_number: u64,
    plain: bool,
) -> Result<Vec<Case>, MinersError> {
    Ok(phantom_round(modality, size, cases, block_number, plain)?
        .items
        .into_iter()
        .map(|it| Case {
            id: it.record.id,
            modality,
            image: it.image,
            mask: it.mask,
            abnormal: it.record.abnormal,
        })
        .collect())
}

/// A one-modality round from the phantom pool, as the round builder makes
/// it for validators (no probes): `plain` turns augmentation and lesion
/// transplants off (the pool as drawn, quantised to 16 bits).
pub fn phantom_round(
    modality: Modality,
    size: u32,
    cases: u32,
    block_number: u64,
    plain: bool,
) -> Result<Round, MinersError> {
    let pool = PhantomPool::new(modality);
    let mut config = RoundConfig {
        size,
        modalities: vec![modality],
        cases_per_modality: cases,
        probes_per_modality: 0,
        ..RoundConfig::default()
    };
    if plain {
        config.augment_fraction = 0.0;
        config.hybrid_fraction = 0.0;
    }
    let anchor = Anchor {
        netuid: medmetric_core::NetUid(0),
        block_number: medmetric_core::Block(block_number),
        block_hash: [0x6d; 32],
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    build(&anchor, &[&pool as &dyn Pool], &config, threads, &|| {})
        .map_err(|e| MinersError::Round(e.to_string()))
}

/// Gates `bytes`, loads them in tract and scores every case (the image as
/// the model sees it, its truth mask and label).
pub fn evaluate(bytes: &[u8], cases: &[Case]) -> Result<Quality, MinersError> {
    let report = gate::check_bytes(bytes, &GateLimits::default())
        .map_err(|e| MinersError::Model(e.to_string()))?;
    let model = TractModel::load(bytes, &report).map_err(|e| MinersError::Model(e.to_string()))?;
    let examples: Vec<Example> = cases.iter().map(Example::from_case).collect();
    let mut failure = None;
    let q = quality(&examples, |ex| {
        let image = medmetric_imaging::GrayImage {
            width: model.size(),
            height: model.size(),
            data: ex.image.clone(),
        };
        match model.run(&image) {
            Ok(p) => (p.mask, p.cls.map(f64::from)),
            Err(e) => {
                failure.get_or_insert(e.to_string());
                (None, None)
            }
        }
    });
    match failure {
        Some(e) => Err(MinersError::Model(e)),
        None => Ok(q),
    }
}
