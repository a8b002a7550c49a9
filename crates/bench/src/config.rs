//! What a round contains. These defaults are part of the mechanism config:
//! every validator must use the same values, and the config's hash is
//! recorded in every round manifest.

use medmetric_imaging::Modality;
use medmetric_imaging::augment::AugmentConfig;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hybrid::HybridConfig;

/// Version of the round layout and of the builder's choices; bumped whenever
/// the same inputs would give different bytes.
pub const ROUND_FORMAT_VERSION: u32 = 1;

/// The shape of a round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoundConfig {
    /// Image side `H = W` given to models.
    pub size: u32,
    /// Modalities in the round, in this order.
    pub modalities: Vec<Modality>,
    /// Cases sampled per modality.
    pub cases_per_modality: u32,
    /// Fraction of sampled normal cases that receive a transplanted lesion.
    pub hybrid_fraction: f64,
    /// Fraction of cases that are augmented at all (the rest are shown as
    /// the pool has them, after resampling).
    pub augment_fraction: f64,
    /// Robustness probes per modality (abnormal images, `m` in docs/design.md#6-scoring).
    pub probes_per_modality: u32,
    /// Augmented variants per probe (`k` in docs/design.md#6-scoring).
    pub probe_variants: u32,
    /// Augmentation sampling for benchmark items.
    pub augment: AugmentConfig,
    /// Augmentation sampling for probe variants: always geometric (so the
    /// transform must be undone to compare predictions), plus photometric
    /// stages as configured.
    pub probe_augment: AugmentConfig,
    /// Lesion transplant tunables.
    pub hybrid: HybridConfig,
}

impl Default for RoundConfig {
    fn default() -> Self {
        RoundConfig {
            size: 256,
            modalities: Modality::ALL.to_vec(),
            cases_per_modality: 16,
            hybrid_fraction: 0.3,
            augment_fraction: 0.75,
            probes_per_modality: 2,
            probe_variants: 4,
            augment: AugmentConfig::default(),
            probe_augment: probe_augment_default(),
            hybrid: HybridConfig::default(),
        }
    }
}

fn probe_augment_default() -> AugmentConfig {
    let mut c = AugmentConfig::default();
    c.affine.probability = 1.0;
    c
}

/// Largest case count the builder accepts per modality.
pub const MAX_CASES_PER_MODALITY: u32 = 4096;

impl RoundConfig {
    /// Checks the config is usable, with a one-line reason when it is not.
    pub fn validate(&self) -> Result<(), String> {
        if ![128, 256, 512].contains(&self.size) {
            return Err(format!("size {} not in 128, 256, 512", self.size));
        }
        if self.modalities.is_empty() {
            return Err("no modalities".into());
        }
        let mut sorted = self.modalities.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != self.modalities.len() {
            return Err("a modality is listed twice".into());
        }
        if self.cases_per_modality == 0 || self.cases_per_modality > MAX_CASES_PER_MODALITY {
            return Err(format!(
                "cases_per_modality must be 1..={MAX_CASES_PER_MODALITY}"
            ));
        }
        for (name, v) in [
            ("hybrid_fraction", self.hybrid_fraction),
            ("augment_fraction", self.augment_fraction),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} must be in [0, 1]"));
            }
        }
        if self.probe_variants > 64 || self.probes_per_modality > 64 {
            return Err("at most 64 probes and 64 variants".into());
        }
        for (name, a) in [
            ("augment", &self.augment),
            ("probe_augment", &self.probe_augment),
        ] {
            a.validate().map_err(|e| format!("{name}: {e}"))?;
        }
        if self.hybrid.iterations > 10_000 {
            return Err("hybrid.iterations at most 10000".into());
        }
        Ok(())
    }

    /// SHA-256 of the config's canonical JSON, recorded in manifests.
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(self).expect("config serialises");
        hex::encode(Sha256::digest(json))
    }
}
