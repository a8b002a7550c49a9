//! Pools a round samples from: the built-in phantom pools, and the file
//! pools of `medmetric_imaging::pool`, opened from a spec string.
//!
//! Specs: `phantom` (all three modalities), `phantom:<modality>`,
//! `folder:<dir>` (or a bare folder path), `brats:<dir>`, `rsna:<dir>`,
//! `chexpert:<dir>`.

use std::path::Path;

use medmetric_imaging::phantom::{self, GENERATOR};
use medmetric_imaging::pool::import::PoolSpec;
use medmetric_imaging::pool::{CaseInfo, Pool, PoolError, ReadLimits};
use medmetric_imaging::{Case, Modality};
use sha2::{Digest, Sha256};

/// Cases in one phantom pool: half normal (even indices), half abnormal.
pub const PHANTOM_POOL_LEN: usize = 4096;

const PHANTOM_DOMAIN: &[u8] = b"medmetric/phantom-pool/v1";

/// The built-in procedural pool of one modality. Case `i` is the phantom
/// generated from `SHA-256("medmetric/phantom-pool/v1" ‖ modality ‖ 0x00 ‖ i
/// u64 LE)`, abnormal when `i` is odd. Nothing is stored: its digest names
/// the generator version, so a change to the phantoms changes every round
/// digest built from them.
#[derive(Debug, Clone)]
pub struct PhantomPool {
    modality: Modality,
    name: String,
    infos: Vec<CaseInfo>,
    salt: Option<[u8; 32]>,
}

impl PhantomPool {
    /// The phantom pool of `modality`.
    pub fn new(modality: Modality) -> Self {
        let infos = (0..PHANTOM_POOL_LEN)
            .map(|i| CaseInfo {
                id: format!("phantom-{modality}-{i:05}"),
                modality,
                abnormal: i % 2 == 1,
                mask_known: true,
            })
            .collect();
        PhantomPool {
            modality,
            name: format!("phantom:{modality}"),
            infos,
            salt: None,
        }
    }

    /// A phantom pool nobody has seen before: every case is generated from
    /// `salt` too (validators salt with the round seed). A public fixed pool
    /// can be memorised — a model that recalls its 4096 cases scores well on
    /// every un-augmented image — while a salted pool exists only once the
    /// round's anchor block does.
    pub fn fresh(modality: Modality, salt: [u8; 32]) -> Self {
        let mut pool = PhantomPool::new(modality);
        pool.salt = Some(salt);
        pool.name = format!("phantom-fresh:{modality}");
        for info in &mut pool.infos {
            info.id = info.id.replacen("phantom-", "phantom-fresh-", 1);
        }
        pool
    }

    fn seed(&self, index: usize) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(PHANTOM_DOMAIN);
        if let Some(salt) = &self.salt {
            h.update(b"fresh");
            h.update(salt);
        }
        h.update(self.modality.name().as_bytes());
        h.update([0u8]);
        h.update((index as u64).to_le_bytes());
        h.finalize().into()
    }
}

impl Pool for PhantomPool {
    fn name(&self) -> &str {
        &self.name
    }

    fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(PHANTOM_DOMAIN);
        h.update(GENERATOR.as_bytes());
        h.update([0u8]);
        h.update(self.modality.name().as_bytes());
        h.update((PHANTOM_POOL_LEN as u64).to_le_bytes());
        if let Some(salt) = &self.salt {
            h.update(b"fresh");
            h.update(salt);
        }
        h.finalize().into()
    }

    fn len(&self) -> usize {
        self.infos.len()
    }

    fn info(&self, index: usize) -> Option<&CaseInfo> {
        self.infos.get(index)
    }

    fn load(&self, index: usize, size: u32) -> Result<Case, PoolError> {
        let info = self.infos.get(index).ok_or_else(|| PoolError::Layout {
            path: self.name.clone().into(),
            reason: format!("no case {index}"),
        })?;
        if !(16..=phantom::MAX_SIZE).contains(&size) {
            return Err(PoolError::Layout {
                path: self.name.clone().into(),
                reason: format!("size {size} outside 16..={}", phantom::MAX_SIZE),
            });
        }
        let mut case = phantom::generate(self.modality, size, self.seed(index), info.abnormal);
        case.id = info.id.clone();
        Ok(case)
    }
}

/// Opens the pools named by `spec`.
pub fn open(spec: &str, limits: &ReadLimits) -> Result<Vec<Box<dyn Pool>>, String> {
    if spec == "phantom" {
        return Ok(Modality::ALL
            .into_iter()
            .map(|m| Box::new(PhantomPool::new(m)) as Box<dyn Pool>)
            .collect());
    }
    let parsed: PoolSpec = if !spec.contains(':') && Path::new(spec).is_dir() {
        PoolSpec::Folder(spec.into())
    } else {
        spec.parse()?
    };
    if let PoolSpec::Phantom(m) = parsed {
        return Ok(vec![Box::new(PhantomPool::new(m))]);
    }
    match parsed.open_files(limits) {
        Ok(Some(pool)) => Ok(vec![Box::new(pool)]),
        Ok(None) => Err(format!("pool '{spec}' cannot be opened")),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phantom_pools_are_deterministic_and_labelled() {
        let pool = PhantomPool::new(Modality::Cxr);
        assert_eq!(pool.len(), PHANTOM_POOL_LEN);
        assert_eq!(pool.is_abnormal(0), Some(false));
        assert_eq!(pool.is_abnormal(1), Some(true));
        let a = pool.load(1, 64).unwrap();
        assert_eq!(a, pool.load(1, 64).unwrap());
        assert!(a.abnormal && a.mask.any());
        assert!(!pool.load(0, 64).unwrap().mask.any());
        assert_ne!(pool.digest(), PhantomPool::new(Modality::Bone).digest());
        assert!(pool.load(PHANTOM_POOL_LEN, 64).is_err());
    }

    #[test]
    fn specs_open_or_explain() {
        assert_eq!(open("phantom", &ReadLimits::default()).unwrap().len(), 3);
        assert_eq!(
            open("phantom:brain", &ReadLimits::default()).unwrap()[0].name(),
            "phantom:brain"
        );
        assert!(open("phantom:lung", &ReadLimits::default()).is_err());
        assert!(open("nonsense", &ReadLimits::default()).is_err());
        assert!(open("folder:/nonexistent/pool", &ReadLimits::default()).is_err());
    }
}
