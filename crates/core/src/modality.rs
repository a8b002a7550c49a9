//! The study types MedMetric scores: one list of names for commitments,
//! pools, manifests, rounds and reports.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which kind of study an image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    /// Chest radiograph.
    Cxr,
    /// Brain MRI, axial slice.
    Brain,
    /// Bone radiograph or CT.
    Bone,
}

impl Modality {
    /// Every modality, in a stable order.
    pub const ALL: [Modality; 3] = [Modality::Cxr, Modality::Brain, Modality::Bone];

    /// The short name used in commitments, pools and manifests.
    pub fn name(self) -> &'static str {
        match self {
            Modality::Cxr => "cxr",
            Modality::Brain => "brain",
            Modality::Bone => "bone",
        }
    }
}

impl fmt::Display for Modality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`Modality::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown modality '{0}' (expected cxr, brain or bone)")]
pub struct UnknownModality(pub String);

impl From<UnknownModality> for String {
    fn from(e: UnknownModality) -> String {
        e.to_string()
    }
}

impl FromStr for Modality {
    type Err = UnknownModality;
    fn from_str(s: &str) -> Result<Self, UnknownModality> {
        Modality::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| UnknownModality(s.chars().take(32).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Modality::ALL {
            assert_eq!(m.name().parse::<Modality>().unwrap(), m);
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{m}\""));
        }
        assert!("CXR".parse::<Modality>().is_err());
    }
}
