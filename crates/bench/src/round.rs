//! `(seed, pools, config) → round`.
//!
//! For each modality, in config order: sample cases from the pools that
//! offer it, transplant lesions onto a fraction of the normal ones, augment
//! a fraction of all of them, quantise to 16 bits (the same values a model
//! later reads back from the PNG), then derive robustness probes from the
//! abnormal cases. Every item draws only from its own sub-seeded stream, so
//! items are built on any number of threads with identical results.

use std::collections::BTreeSet;

use medmetric_core::{Block, NetUid};
use medmetric_imaging::augment::{self, AffineMatrix, Augmentation};
use medmetric_imaging::pool::Pool;
use medmetric_imaging::{Case, GrayImage, Mask, Modality};
use serde::{Deserialize, Serialize};

use crate::config::RoundConfig;
use crate::hybrid::{TransplantRecord, transplant};
use crate::seed::{RoundSeed, below, unit_f64};

/// The block a round is anchored to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// Subnet.
    pub netuid: NetUid,
    /// Block number.
    pub block_number: Block,
    /// Block hash.
    #[serde(with = "hex_32")]
    pub block_hash: [u8; 32],
}

impl Anchor {
    /// The round seed of this anchor.
    pub fn seed(&self) -> RoundSeed {
        RoundSeed::from_block(self.netuid.0, self.block_number.0, &self.block_hash)
    }
}

mod hex_32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        crate::seed::parse_block_hash(&s).map_err(serde::de::Error::custom)
    }
}

/// Why a round could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    /// The config is unusable.
    #[error("invalid round config: {0}")]
    Config(String),
    /// No pool offers a modality the config asks for.
    #[error("no pool offers {0} cases")]
    NoCases(Modality),
    /// A pool failed to load a case.
    #[error("pool {pool}: case {index}: {why}")]
    Pool {
        /// Pool name.
        pool: String,
        /// Case index.
        index: usize,
        /// The pool's error.
        why: String,
    },
    /// An augmentation failed.
    #[error("augmentation failed on {item}: {why}")]
    Augment {
        /// Item id.
        item: String,
        /// The error.
        why: String,
    },
    /// Writing the round failed.
    #[error("cannot write {path}: {why}")]
    Io {
        /// Path.
        path: String,
        /// The error.
        why: String,
    },
}

/// Where an item came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    /// Pool name.
    pub pool: String,
    /// Index within the pool.
    pub index: u64,
    /// The pool's id for the case.
    pub case_id: String,
}

/// A lesion transplant applied to an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HybridRecord {
    /// The donor case.
    pub donor: SourceRef,
    /// What was moved where.
    pub transplant: TransplantRecord,
}

/// An item's entry in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRecord {
    /// `<modality>_<nnnn>`.
    pub id: String,
    /// Study type.
    pub modality: Modality,
    /// Image path in the round folder.
    pub image: String,
    /// Mask path in the round folder.
    pub mask: String,
    /// Truth label.
    pub abnormal: bool,
    /// Source case.
    pub source: SourceRef,
    /// Transplanted lesion, if any.
    pub hybrid: Option<HybridRecord>,
    /// Augmentations, in the order applied.
    pub augmentations: Vec<Augmentation>,
}

/// One benchmark image with its truth.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundItem {
    /// Manifest entry.
    pub record: ItemRecord,
    /// What the model sees (16-bit quantised).
    pub image: GrayImage,
    /// Truth mask.
    pub mask: Mask,
}

/// A probe variant's manifest entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantRecord {
    /// Image path.
    pub image: String,
    /// Transformed truth mask path.
    pub mask: String,
    /// Augmentations applied to the base image, in order.
    pub augmentations: Vec<Augmentation>,
    /// All geometric steps composed (base → variant coordinates): its
    /// inverse maps a prediction on the variant back onto the base image.
    pub transform: AffineMatrix,
}

/// A robustness probe's manifest entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRecord {
    /// `<modality>_p<n>`.
    pub id: String,
    /// Study type.
    pub modality: Modality,
    /// The item whose un-augmented image the variants start from.
    pub base: String,
    /// The variants.
    pub variants: Vec<VariantRecord>,
}

/// A probe with its images.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Manifest entry.
    pub record: ProbeRecord,
    /// The base image's truth mask (un-augmented).
    pub base_mask: Mask,
    /// Variant images and their transformed masks.
    pub variants: Vec<(GrayImage, Mask)>,
}

/// A pool's identity in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRecord {
    /// Name, e.g. `phantom:cxr`.
    pub name: String,
    /// Content digest, hex.
    pub digest: String,
}

/// A built round, in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// Anchor block.
    pub anchor: Anchor,
    /// Derived seed.
    pub seed: RoundSeed,
    /// Config used.
    pub config: RoundConfig,
    /// Pools used.
    pub pools: Vec<PoolRecord>,
    /// Benchmark items, modality by modality.
    pub items: Vec<RoundItem>,
    /// Robustness probes.
    pub probes: Vec<Probe>,
}

/// Rounds pixel values to the 16-bit grid they are stored on.
pub fn quantise16(img: &mut GrayImage) {
    for v in &mut img.data {
        *v = medmetric_imaging::png_io::quantise(*v, 65535.0) / 65535.0;
    }
}

/// A case as it was before augmentation, kept for probes.
struct Built {
    item: RoundItem,
    base: Option<(GrayImage, Mask)>,
}

/// Distinct sample of `n` out of `0..len` (Floyd's algorithm), or with
/// replacement when the pool is smaller than `n`; order is deterministic.
fn sample_indices(rng: &mut impl rand_core::Rng, len: usize, n: usize) -> Vec<usize> {
    if n > len {
        return (0..n).map(|_| below(rng, len as u64) as usize).collect();
    }
    let mut chosen = BTreeSet::new();
    let mut order = Vec::with_capacity(n);
    for j in (len - n)..len {
        let t = below(rng, j as u64 + 1) as usize;
        let pick = if chosen.contains(&t) { j } else { t };
        chosen.insert(pick);
        order.push(pick);
    }
    order
}

/// Builds the round for `anchor` from `pools`. `threads` ≥ 1 changes only
/// the speed; `progress` is called once per finished item.
pub fn build(
    anchor: &Anchor,
    pools: &[&dyn Pool],
    config: &RoundConfig,
    threads: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<Round, RoundError> {
    config.validate().map_err(RoundError::Config)?;
    let seed = anchor.seed();
    let mut items = Vec::new();
    let mut probes = Vec::new();
    for &modality in &config.modalities {
        let candidates: Vec<(usize, usize)> = pools
            .iter()
            .enumerate()
            .flat_map(|(p, pool)| {
                (0..pool.len())
                    .filter(move |&i| pool.modality_of(i) == Some(modality))
                    .map(move |i| (p, i))
            })
            .collect();
        if candidates.is_empty() {
            return Err(RoundError::NoCases(modality));
        }
        let donors: Vec<(usize, usize)> = candidates
            .iter()
            .copied()
            .filter(|&(p, i)| pools[p].is_abnormal(i) == Some(true))
            .collect();
        let n = config.cases_per_modality as usize;
        let mut rng = seed.rng(&format!("sample/{modality}"), 0);
        let picks: Vec<(usize, usize)> = sample_indices(&mut rng, candidates.len(), n)
            .into_iter()
            .map(|k| candidates[k])
            .collect();
        let built = build_items(
            &seed, modality, pools, &picks, &donors, config, threads, progress,
        )?;
        let first = items.len();
        let mut bases = Vec::new();
        for b in built {
            bases.push(b.base);
            items.push(b.item);
        }
        probes.extend(build_probes(
            &seed,
            modality,
            &items[first..],
            &bases,
            config,
        )?);
    }
    let pools = pools
        .iter()
        .map(|p| PoolRecord {
            name: p.name().to_string(),
            digest: hex::encode(p.digest()),
        })
        .collect();
    Ok(Round {
        anchor: *anchor,
        seed,
        config: config.clone(),
        pools,
        items,
        probes,
    })
}

#[allow(clippy::too_many_arguments)]
fn build_items(
    seed: &RoundSeed,
    modality: Modality,
    pools: &[&dyn Pool],
    picks: &[(usize, usize)],
    donors: &[(usize, usize)],
    config: &RoundConfig,
    threads: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Built>, RoundError> {
    let threads = threads.clamp(1, picks.len().max(1));
    let mut slots: Vec<Option<Result<Built, RoundError>>> =
        (0..picks.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let chunk = picks.len().div_ceil(threads);
        for (c, out) in slots.chunks_mut(chunk.max(1)).enumerate() {
            scope.spawn(move || {
                for (k, slot) in out.iter_mut().enumerate() {
                    let j = c * chunk + k;
                    *slot = Some(build_item(
                        seed, modality, pools, picks[j], j, donors, config,
                    ));
                    progress();
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|s| s.expect("every slot is filled"))
        .collect()
}

fn load(pools: &[&dyn Pool], (p, i): (usize, usize), size: u32) -> Result<Case, RoundError> {
    pools[p].load(i, size).map_err(|e| RoundError::Pool {
        pool: pools[p].name().to_string(),
        index: i,
        why: e.to_string(),
    })
}

fn source(pools: &[&dyn Pool], (p, i): (usize, usize), case: &Case) -> SourceRef {
    SourceRef {
        pool: pools[p].name().to_string(),
        index: i as u64,
        case_id: case.id.clone(),
    }
}

fn build_item(
    seed: &RoundSeed,
    modality: Modality,
    pools: &[&dyn Pool],
    pick: (usize, usize),
    j: usize,
    donors: &[(usize, usize)],
    config: &RoundConfig,
) -> Result<Built, RoundError> {
    let id = format!("{modality}_{j:04}");
    let mut rng = seed.rng(&format!("item/{modality}"), j as u64);
    let case = load(pools, pick, config.size)?;
    let src = source(pools, pick, &case);
    let (mut image, mut mask, mut abnormal) = (case.image, case.mask, case.abnormal);
    let mut hybrid = None;
    let wants_lesion = !abnormal && unit_f64(&mut rng) < config.hybrid_fraction;
    if wants_lesion && !donors.is_empty() {
        let d = donors[below(&mut rng, donors.len() as u64) as usize];
        let donor = load(pools, d, config.size)?;
        if let Some((img, m, rec)) = transplant(
            &image,
            &mask,
            &donor.image,
            &donor.mask,
            &config.hybrid,
            &mut rng,
        ) {
            image = img;
            mask = m;
            abnormal = true;
            hybrid = Some(HybridRecord {
                donor: source(pools, d, &donor),
                transplant: rec,
            });
        }
    }
    quantise16(&mut image);
    let base = abnormal.then(|| (image.clone(), mask.clone()));
    let mut augmentations = Vec::new();
    if unit_f64(&mut rng) < config.augment_fraction {
        let fail = |e: augment::AugmentError| RoundError::Augment {
            item: id.clone(),
            why: e.to_string(),
        };
        augmentations = augment::sample_pipeline(&mut rng, &config.augment).map_err(fail)?;
        let out = augment::apply_pipeline(
            &image,
            Some(&mask),
            &augmentations,
            seed.sub(&format!("augment/{id}"), 0),
        )
        .map_err(fail)?;
        image = out.image;
        mask = out.mask.unwrap_or(mask);
        quantise16(&mut image);
    }
    let record = ItemRecord {
        image: format!("images/{id}.png"),
        mask: format!("masks/{id}.png"),
        id,
        modality,
        abnormal,
        source: src,
        hybrid,
        augmentations,
    };
    Ok(Built {
        item: RoundItem {
            record,
            image,
            mask,
        },
        base,
    })
}

fn build_probes(
    seed: &RoundSeed,
    modality: Modality,
    items: &[RoundItem],
    bases: &[Option<(GrayImage, Mask)>],
    config: &RoundConfig,
) -> Result<Vec<Probe>, RoundError> {
    let abnormal: Vec<usize> = (0..items.len()).filter(|&i| bases[i].is_some()).collect();
    let mut rng = seed.rng(&format!("probes/{modality}"), 0);
    let m = (config.probes_per_modality as usize).min(abnormal.len());
    let chosen = sample_indices(&mut rng, abnormal.len(), m);
    let mut probes = Vec::new();
    for (p, &k) in chosen.iter().enumerate() {
        let item = &items[abnormal[k]];
        let (base_image, base_mask) = bases[abnormal[k]].clone().expect("abnormal has a base");
        let id = format!("{modality}_p{p}");
        let mut variants = Vec::new();
        let mut records = Vec::new();
        for v in 0..config.probe_variants {
            let mut vrng = seed.rng(&format!("probe/{id}"), u64::from(v));
            let fail = |e: augment::AugmentError| RoundError::Augment {
                item: id.clone(),
                why: e.to_string(),
            };
            let augmentations =
                augment::sample_pipeline(&mut vrng, &config.probe_augment).map_err(fail)?;
            let out = augment::apply_pipeline(
                &base_image,
                Some(&base_mask),
                &augmentations,
                seed.sub(&format!("probe-augment/{id}"), u64::from(v)),
            )
            .map_err(fail)?;
            let mut image = out.image;
            let mask = out.mask.unwrap_or_else(|| base_mask.clone());
            quantise16(&mut image);
            records.push(VariantRecord {
                image: format!("probes/{id}_{v}.png"),
                mask: format!("probes/{id}_{v}_mask.png"),
                augmentations,
                transform: out.transform,
            });
            variants.push((image, mask));
        }
        probes.push(Probe {
            record: ProbeRecord {
                id,
                modality,
                base: item.record.id.clone(),
                variants: records,
            },
            base_mask,
            variants,
        });
    }
    Ok(probes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    #[test]
    fn sampling_is_distinct_when_it_can_be() {
        let mut rng = ChaCha8Rng::from_seed([9; 32]);
        let s = sample_indices(&mut rng, 100, 30);
        let set: BTreeSet<_> = s.iter().collect();
        assert_eq!(set.len(), 30);
        assert!(s.iter().all(|&i| i < 100));
        let all = sample_indices(&mut rng, 5, 5);
        assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 5);
        let more = sample_indices(&mut rng, 3, 10);
        assert_eq!(more.len(), 10);
    }
}
