//! The mechanism config: every weight, threshold and curve of the incentive
//! mechanism in one versioned TOML document.
//!
//! The four built-in profiles are the files `config/mechanism/<name>.toml`
//! at the repository root, compiled in with `include_str!`, so
//! [`MechanismConfig::builtin`] and the files cannot drift apart.
//!
//! Parsing is strict: unknown keys, a missing key, a section the profile does
//! not use, a wrong version or a value out of range are all refused with a
//! one-line reason. [`MechanismConfig::hash`] identifies the parsed values
//! (not the text) and is recorded with every round.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The only config version this code understands.
pub const CONFIG_VERSION: u32 = 1;

/// Largest accepted config text, in bytes.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;

/// Domain separator prefixed to the canonical form before hashing.
const HASH_DOMAIN: &[u8] = b"medmetric/mechanism/v1\n";

const SEED_TOML: &str = include_str!("../../../../config/mechanism/seed.toml");
const MEDMETRIC_TOML: &str = include_str!("../../../../config/mechanism/medmetric.toml");
const SN34_TOML: &str = include_str!("../../../../config/mechanism/sn34.toml");
const SN87_TOML: &str = include_str!("../../../../config/mechanism/sn87.toml");

/// Names of the built-in profiles, default first.
pub const BUILTIN_PROFILES: [&str; 4] = ["medmetric", "seed", "sn34", "sn87"];

/// Why a config was refused. `Display` is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The text is larger than [`MAX_CONFIG_BYTES`].
    #[error("mechanism config is larger than {limit} bytes")]
    TooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// Not valid TOML, or not the expected keys and types.
    #[error("mechanism config: {0}")]
    Parse(String),
    /// Well-formed but a value is out of range or inconsistent.
    #[error("mechanism config: {0}")]
    Invalid(String),
    /// [`MechanismConfig::builtin`] was asked for a name it does not know.
    #[error("unknown mechanism profile '{0}' (known: medmetric, seed, sn34, sn87)")]
    UnknownProfile(String),
}

/// How a round's measurements become a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The seed design's formulas (docs/design.md#6-scoring), literally.
    Seed,
    /// The default: skill against the null predictor, gated speed and
    /// robustness.
    Medmetric,
    /// MCC for detectors, IoU for segmenters.
    Sn34,
    /// `exp(−α·L)`.
    Sn87,
}

impl Profile {
    /// The profile's name as written in the config.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Seed => "seed",
            Profile::Medmetric => "medmetric",
            Profile::Sn34 => "sn34",
            Profile::Sn87 => "sn87",
        }
    }
}

/// Weights of the three components in the composite. The composite is their
/// weighted mean, so only the ratios matter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Components {
    /// Weight of accuracy.
    pub accuracy: f64,
    /// Weight of speed.
    pub speed: f64,
    /// Weight of robustness.
    pub robustness: f64,
}

/// Weights of the segmentation and classification parts of accuracy
/// (`seed` and `medmetric` profiles).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccuracySplit {
    /// Weight of the segmentation part (docs/design.md#6-scoring: 0.6).
    pub segmentation: f64,
    /// Weight of the classification part (docs/design.md#6-scoring: 0.4).
    pub classification: f64,
}

/// The speed curve: 1 up to `fast_ms`, falling linearly to 0 at `slow_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeedCurve {
    /// Calibrated mean latency with full speed credit, ms.
    pub fast_ms: f64,
    /// Calibrated mean latency with no speed credit, ms.
    pub slow_ms: f64,
}

/// When a robustness probe passes (`R_robust`, docs/design.md#6-scoring).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobustnessRule {
    /// Every pairwise Dice of the mapped-back variants must be above this.
    pub min_pairwise_dice: f64,
    /// The variants' mean Dice against the truth must be at least this.
    pub min_truth_dice: f64,
}

impl RobustnessRule {
    /// The probe rule of docs/design.md#6-scoring: pairwise Dice > 0.8, mean Dice against truth ≥ 0.5.
    pub const DESIGN: RobustnessRule = RobustnessRule {
        min_pairwise_dice: 0.8,
        min_truth_dice: 0.5,
    };
}

/// Parameters of the `medmetric` profile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillGate {
    /// Segmentation skill from which speed and robustness are credited in
    /// full; below it they are credited in proportion (`g(s) = min(1, s/full)`).
    pub full_credit_skill: f64,
    /// On a normal image, the mask's credit falls smoothly with its
    /// false-positive area, `1 / (1 + FP / (scale · pixels))`, instead of
    /// from 1 to 0 at the first false-positive pixel: this is the `scale`,
    /// the fraction of the image at which the credit halves. Absent: the
    /// Dice convention (empty vs empty = 1, anything else 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normal_fp_scale: Option<f64>,
}

/// Parameters of the `sn87` profile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpLoss {
    /// The decay rate α in `exp(−α·L)`.
    pub alpha: f64,
}

/// The score book's moving average.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ema {
    /// `V ← α·C + (1−α)·V`; in `(0, 1]`.
    pub alpha: f64,
}

/// How moving scores become shares of the miners' emission.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "curve", rename_all = "lowercase", deny_unknown_fields)]
pub enum RewardCurve {
    /// Winner-takes-most: the miner ranked `r` (from 0) gets `ratio^r` if
    /// `r < top_k`, then the shares are normalised.
    Geometric {
        /// How many miners are paid.
        top_k: u32,
        /// Ratio between consecutive ranks, in `(0, 1]`.
        ratio: f64,
    },
    /// Winner takes all.
    Wta {},
    /// `exp((s − max)/temperature)` over miners with a positive score.
    Softmax {
        /// Temperature, > 0.
        temperature: f64,
    },
    /// Shares proportional to the score (L1 normalisation).
    Proportional {},
}

/// Who may be paid at all: a miner whose moving score is below `absolute`,
/// or below `relative` times the leader's, gets no share whatever its rank.
/// Without it a rank-based curve pays the runner-up half the leader's
/// reward even when the runner-up is junk (docs/mechanism.md#8-reward-curves).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillFloor {
    /// Smallest moving score that is paid, in score units, in `[0, 1)`.
    pub absolute: f64,
    /// Smallest fraction of the leader's moving score that is paid, in
    /// `[0, 1]` (the leader itself always passes this part).
    pub relative: f64,
}

/// Shares of the emission per miner type (`sn34`): the reward curve runs
/// within each type and each type's weights are scaled to its share.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinerTypeShares {
    /// Share of models without a `mask` output.
    pub detector: f64,
    /// Share of models with a `mask` output.
    pub segmenter: f64,
}

/// The earlier-commitment advantage `ε(age) = initial · 2^(−age/half_life)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpsilonSchedule {
    /// ε for a commitment made in the current block, in score units.
    pub initial: f64,
    /// Blocks after which ε has halved.
    pub half_life_blocks: u64,
}

/// Copy-detection tolerances (see [`crate::mechanism::copies`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyTolerances {
    /// Outputs: largest mean absolute logit difference of a copy.
    pub output_mean_logit_diff: f64,
    /// Outputs: a logit difference above this counts as a "far" element.
    pub output_far_logit_diff: f64,
    /// Outputs: largest fraction of far elements of a copy.
    pub output_max_far_fraction: f64,
    /// Outputs: fewest informative elements needed to judge at all.
    pub output_min_informative: u64,
    /// Weights: smallest size-weighted mean correlation of a copy.
    pub weight_similarity: f64,
    /// Weights: tensors with fewer elements are ignored.
    pub weight_min_tensor_elements: u64,
    /// Outputs, by function: two models whose outputs have at least this
    /// Spearman rank correlation over the informative elements compute the
    /// same function up to a monotone recalibration (temperature, logit
    /// shifts) and are copies. Absent: only the logit-distance rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_rank_correlation: Option<f64>,
    /// Outputs, by function: elements where both models' probabilities are
    /// below this carry no information (shared healthy background) and are
    /// left out of the rank correlation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_floor: Option<f64>,
}

/// The whole mechanism. Build it with [`MechanismConfig::builtin`] or
/// [`MechanismConfig::from_toml`]; both return validated configs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MechanismConfig {
    /// Always [`CONFIG_VERSION`].
    pub version: u32,
    /// Which scoring formula.
    pub profile: Profile,
    /// Component weights of the composite.
    pub components: Components,
    /// Accuracy split (`seed`, `medmetric` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<AccuracySplit>,
    /// The speed curve.
    pub speed: SpeedCurve,
    /// The robustness probe rule.
    pub robustness: RobustnessRule,
    /// `medmetric` parameters (that profile only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medmetric: Option<SkillGate>,
    /// `sn87` parameters (that profile only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sn87: Option<ExpLoss>,
    /// The score book's EMA.
    pub ema: Ema,
    /// The reward curve.
    pub reward: RewardCurve,
    /// Who may be paid by the curve (absent: every positive score).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill_floor: Option<SkillFloor>,
    /// Per-miner-type shares (required by `sn34`, optional elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miner_types: Option<MinerTypeShares>,
    /// The earlier-commitment advantage.
    pub epsilon: EpsilonSchedule,
    /// Copy-detection tolerances.
    pub copies: CopyTolerances,
}

impl MechanismConfig {
    /// One of the built-in profiles: `medmetric` (default), `seed`, `sn34`,
    /// `sn87`.
    pub fn builtin(name: &str) -> Result<MechanismConfig, ConfigError> {
        MechanismConfig::from_toml(builtin_toml(name)?)
    }

    /// The default profile, `medmetric`.
    pub fn default_profile() -> MechanismConfig {
        // The embedded file is checked by the tests; failing here would be a
        // build defect, not an input error.
        MechanismConfig::builtin("medmetric").expect("built-in medmetric profile is valid")
    }

    /// Parses and validates a config.
    pub fn from_toml(text: &str) -> Result<MechanismConfig, ConfigError> {
        if text.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                limit: MAX_CONFIG_BYTES,
            });
        }
        let cfg: MechanismConfig =
            toml::from_str(text).map_err(|e| ConfigError::Parse(toml_error_line(text, &e)))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Writes the config as TOML; [`MechanismConfig::from_toml`] reads it
    /// back to an equal config.
    pub fn to_toml(&self) -> String {
        // Plain structs, enums and numbers always serialise.
        toml::to_string(self).expect("a mechanism config serialises to TOML")
    }

    /// Hex SHA-256 identifying the config's values.
    ///
    /// What is hashed: `"medmetric/mechanism/v1\n"` followed by the config
    /// as compact JSON (`serde_json`), fields in declaration order, absent
    /// optional sections omitted, numbers in Rust's shortest round-trip
    /// form. It therefore changes with any value and never with comments,
    /// whitespace or key order in the TOML text.
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("a mechanism config serialises to JSON");
        let mut h = Sha256::new();
        h.update(HASH_DOMAIN);
        h.update(&json);
        hex::encode(h.finalize())
    }

    /// The accuracy split, 0.6/0.4 (docs/design.md#6-scoring) where the profile has none.
    pub(crate) fn accuracy_split(&self) -> AccuracySplit {
        self.accuracy.unwrap_or(AccuracySplit {
            segmentation: 0.6,
            classification: 0.4,
        })
    }

    /// Checks every range and cross-field rule.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.version != CONFIG_VERSION {
            return invalid(format!(
                "version {} is not supported (expected {CONFIG_VERSION})",
                self.version
            ));
        }
        let c = &self.components;
        weights(
            "components",
            &[
                ("accuracy", c.accuracy),
                ("speed", c.speed),
                ("robustness", c.robustness),
            ],
        )?;
        if let Some(a) = &self.accuracy {
            weights(
                "accuracy",
                &[
                    ("segmentation", a.segmentation),
                    ("classification", a.classification),
                ],
            )?;
        }
        let s = &self.speed;
        non_negative("speed.fast_ms", s.fast_ms)?;
        if !(s.slow_ms.is_finite() && s.slow_ms > s.fast_ms) {
            return invalid("speed.slow_ms must be finite and above speed.fast_ms");
        }
        unit(
            "robustness.min_pairwise_dice",
            self.robustness.min_pairwise_dice,
        )?;
        unit("robustness.min_truth_dice", self.robustness.min_truth_dice)?;
        if let Some(g) = &self.medmetric
            && !(g.full_credit_skill > 0.0 && g.full_credit_skill <= 1.0)
        {
            return invalid("medmetric.full_credit_skill must be in (0, 1]");
        }
        if let Some(scale) = self.medmetric.and_then(|g| g.normal_fp_scale)
            && !(scale > 0.0 && scale <= 1.0)
        {
            return invalid("medmetric.normal_fp_scale must be in (0, 1]");
        }
        if let Some(e) = &self.sn87
            && !(e.alpha.is_finite() && e.alpha > 0.0)
        {
            return invalid("sn87.alpha must be finite and positive");
        }
        if !(self.ema.alpha > 0.0 && self.ema.alpha <= 1.0) {
            return invalid("ema.alpha must be in (0, 1]");
        }
        match self.reward {
            RewardCurve::Geometric { top_k, ratio } => {
                if top_k == 0 {
                    return invalid("reward.top_k must be at least 1");
                }
                if !(ratio > 0.0 && ratio <= 1.0) {
                    return invalid("reward.ratio must be in (0, 1]");
                }
            }
            RewardCurve::Softmax { temperature } => {
                if !(temperature.is_finite() && temperature > 0.0) {
                    return invalid("reward.temperature must be finite and positive");
                }
            }
            RewardCurve::Wta {} | RewardCurve::Proportional {} => {}
        }
        if let Some(f) = &self.skill_floor {
            if !(f.absolute.is_finite() && (0.0..1.0).contains(&f.absolute)) {
                return invalid("skill_floor.absolute must be in [0, 1)");
            }
            unit("skill_floor.relative", f.relative)?;
        }
        if let Some(m) = &self.miner_types {
            weights(
                "miner_types",
                &[("detector", m.detector), ("segmenter", m.segmenter)],
            )?;
        }
        let e = &self.epsilon;
        if !(e.initial.is_finite() && (0.0..1.0).contains(&e.initial)) {
            return invalid("epsilon.initial must be in [0, 1)");
        }
        if e.half_life_blocks == 0 {
            return invalid("epsilon.half_life_blocks must be at least 1");
        }
        let k = &self.copies;
        non_negative("copies.output_mean_logit_diff", k.output_mean_logit_diff)?;
        non_negative("copies.output_far_logit_diff", k.output_far_logit_diff)?;
        unit("copies.output_max_far_fraction", k.output_max_far_fraction)?;
        if k.output_min_informative == 0 {
            return invalid("copies.output_min_informative must be at least 1");
        }
        if !(k.weight_similarity > 0.0 && k.weight_similarity <= 1.0) {
            return invalid("copies.weight_similarity must be in (0, 1]");
        }
        if let Some(r) = k.output_rank_correlation
            && !(r > 0.0 && r <= 1.0)
        {
            return invalid("copies.output_rank_correlation must be in (0, 1]");
        }
        if let Some(f) = k.output_floor
            && !(0.0..1.0).contains(&f)
        {
            return invalid("copies.output_floor must be in [0, 1)");
        }
        if k.weight_min_tensor_elements < 2 {
            return invalid("copies.weight_min_tensor_elements must be at least 2");
        }
        self.check_sections()
    }

    /// Each profile-specific section is present exactly when the profile
    /// uses it, so a config never carries a value that silently does nothing.
    fn check_sections(&self) -> Result<(), ConfigError> {
        let p = self.profile;
        let uses_accuracy = matches!(p, Profile::Seed | Profile::Medmetric);
        let sections = [
            ("accuracy", self.accuracy.is_some(), uses_accuracy),
            (
                "medmetric",
                self.medmetric.is_some(),
                p == Profile::Medmetric,
            ),
            ("sn87", self.sn87.is_some(), p == Profile::Sn87),
        ];
        for (name, present, used) in sections {
            if present && !used {
                return invalid(format!(
                    "section [{name}] is not used by profile '{}'",
                    p.name()
                ));
            }
            if used && !present {
                return invalid(format!("profile '{}' needs a [{name}] section", p.name()));
            }
        }
        if p == Profile::Sn34 && self.miner_types.is_none() {
            return invalid("profile 'sn34' needs a [miner_types] section");
        }
        Ok(())
    }
}

/// The embedded TOML text of a built-in profile.
pub fn builtin_toml(name: &str) -> Result<&'static str, ConfigError> {
    match name {
        "seed" => Ok(SEED_TOML),
        "medmetric" => Ok(MEDMETRIC_TOML),
        "sn34" => Ok(SN34_TOML),
        "sn87" => Ok(SN87_TOML),
        other => Err(ConfigError::UnknownProfile(printable(other))),
    }
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError::Invalid(msg.into()))
}

fn non_negative(name: &str, v: f64) -> Result<(), ConfigError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        invalid(format!("{name} must be finite and non-negative"))
    }
}

fn unit(name: &str, v: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        invalid(format!("{name} must be in [0, 1]"))
    }
}

fn weights(section: &str, items: &[(&str, f64)]) -> Result<(), ConfigError> {
    for (name, v) in items {
        non_negative(&format!("{section}.{name}"), *v)?;
    }
    let sum: f64 = items.iter().map(|(_, v)| v).sum();
    if !(sum > 0.0 && sum.is_finite()) {
        return invalid(format!("[{section}] weights must not all be zero"));
    }
    Ok(())
}

/// `line N: message` from a TOML error, without the multi-line snippet.
fn toml_error_line(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().replace(['\n', '\r'], " ");
    let msg = msg.trim();
    match e.span() {
        Some(span) => {
            let end = span.start.min(text.len());
            let line = text.as_bytes()[..end]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            format!("line {line}: {msg}")
        }
        None => msg.to_string(),
    }
}

/// Keeps a caller-supplied name short and on one line in messages.
fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(32)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 32 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn medmetric_text() -> String {
        builtin_toml("medmetric").unwrap().to_string()
    }

    #[test]
    fn builtins_parse_and_name_their_profile() {
        for name in BUILTIN_PROFILES {
            let cfg = MechanismConfig::builtin(name).unwrap();
            assert_eq!(cfg.profile.name(), name);
        }
        assert_eq!(
            MechanismConfig::default_profile().profile,
            Profile::Medmetric
        );
    }

    #[test]
    fn builtins_are_the_committed_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/mechanism");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        files.sort();
        let mut want: Vec<String> = BUILTIN_PROFILES
            .iter()
            .map(|n| format!("{n}.toml"))
            .collect();
        want.sort();
        assert_eq!(files, want);
        for name in BUILTIN_PROFILES {
            let text = std::fs::read_to_string(dir.join(format!("{name}.toml"))).unwrap();
            assert_eq!(text, builtin_toml(name).unwrap(), "{name}");
            assert_eq!(
                MechanismConfig::from_toml(&text).unwrap(),
                MechanismConfig::builtin(name).unwrap()
            );
        }
    }

    #[test]
    fn the_default_profile_hash_is_pinned() {
        // Validators agree on the mechanism through this hash. Changing the
        // default profile (or how it is hashed) is a protocol change: update
        // the pin deliberately, together with every validator.
        assert_eq!(
            MechanismConfig::default_profile().hash(),
            "169802367c0b8bec6fe77d3fb4c1f270d5980cde1e339b2084215746e9291131"
        );
    }

    #[test]
    fn toml_round_trip_keeps_values_and_hash() {
        for name in BUILTIN_PROFILES {
            let cfg = MechanismConfig::builtin(name).unwrap();
            let back = MechanismConfig::from_toml(&cfg.to_toml()).unwrap();
            assert_eq!(back, cfg, "{name}");
            assert_eq!(back.hash(), cfg.hash(), "{name}");
        }
    }

    #[test]
    fn hash_ignores_layout_but_not_values() {
        let text = medmetric_text();
        let base = MechanismConfig::from_toml(&text).unwrap().hash();
        assert_eq!(base.len(), 64);
        let relaid = format!("# a comment\n\n{}", text.replace(" = ", "="));
        assert_eq!(MechanismConfig::from_toml(&relaid).unwrap().hash(), base);
        let changed = text.replace("alpha = 0.1", "alpha = 0.10000001");
        assert_ne!(MechanismConfig::from_toml(&changed).unwrap().hash(), base);
        let hashes: std::collections::BTreeSet<String> = BUILTIN_PROFILES
            .iter()
            .map(|n| MechanismConfig::builtin(n).unwrap().hash())
            .collect();
        assert_eq!(hashes.len(), 4);
    }

    #[test]
    fn unknown_keys_and_sections_are_refused() {
        let text = medmetric_text();
        let e = MechanismConfig::from_toml(&text.replace("[ema]", "[ema]\nbeta = 1.0"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("beta") && !e.contains('\n'), "{e}");
        let e = MechanismConfig::from_toml(&format!("{text}\n[extra]\nx = 1\n")).unwrap_err();
        assert!(e.to_string().contains("extra"), "{e}");
        // A parameter of another curve.
        let e = MechanismConfig::from_toml(
            &text.replace("ratio = 0.5", "ratio = 0.5\ntemperature = 1.0"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("temperature"), "{e}");
        let wta = builtin_toml("sn87")
            .unwrap()
            .replace("curve = \"wta\"", "curve = \"wta\"\ntop_k = 3");
        assert!(MechanismConfig::from_toml(&wta).is_err());
        let e = MechanismConfig::from_toml(
            &text.replace("curve = \"geometric\"", "curve = \"linear\""),
        )
        .unwrap_err();
        assert!(e.to_string().contains("linear"), "{e}");
    }

    #[test]
    fn missing_and_foreign_sections_are_refused() {
        let text = medmetric_text();
        let start = text.find("[medmetric]").unwrap();
        let end = start + text[start..].find("\n\n").unwrap();
        let no_gate = format!("{}{}", &text[..start], &text[end..]);
        let e = MechanismConfig::from_toml(&no_gate)
            .unwrap_err()
            .to_string();
        assert!(e.contains("[medmetric]"), "{e}");
        let foreign = format!("{text}\n[sn87]\nalpha = 1.0\n");
        let e = MechanismConfig::from_toml(&foreign)
            .unwrap_err()
            .to_string();
        assert!(e.contains("[sn87]"), "{e}");
        let no_speed = text.replace("[speed]\nfast_ms = 150.0\nslow_ms = 800.0\n", "");
        assert!(MechanismConfig::from_toml(&no_speed).is_err());
        let sn34 = builtin_toml("sn34")
            .unwrap()
            .replace("[miner_types]\ndetector = 0.5\nsegmenter = 0.5\n", "");
        let e = MechanismConfig::from_toml(&sn34).unwrap_err().to_string();
        assert!(e.contains("miner_types"), "{e}");
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let text = medmetric_text();
        let cases = [
            ("version = 1", "version = 2", "version"),
            ("alpha = 0.1", "alpha = 0.0", "ema.alpha"),
            ("alpha = 0.1", "alpha = 1.5", "ema.alpha"),
            ("accuracy = 0.5", "accuracy = -0.5", "components.accuracy"),
            ("accuracy = 0.5", "accuracy = nan", "components.accuracy"),
            ("accuracy = 0.5", "accuracy = inf", "components.accuracy"),
            ("slow_ms = 800.0", "slow_ms = 100.0", "slow_ms"),
            ("top_k = 5", "top_k = 0", "top_k"),
            ("ratio = 0.5", "ratio = 1.5", "ratio"),
            (
                "half_life_blocks = 7200",
                "half_life_blocks = 0",
                "half_life",
            ),
            (
                "full_credit_skill = 0.5",
                "full_credit_skill = 0.0",
                "full_credit",
            ),
            (
                "weight_similarity = 0.99",
                "weight_similarity = 2.0",
                "weight_similarity",
            ),
            ("initial = 0.04", "initial = -0.01", "epsilon.initial"),
            ("absolute = 0.05", "absolute = 1.0", "skill_floor.absolute"),
            ("absolute = 0.05", "absolute = nan", "skill_floor.absolute"),
            ("relative = 0.25", "relative = 1.5", "skill_floor.relative"),
        ];
        for (from, to, needle) in cases {
            assert!(text.contains(from), "{from}");
            let e = MechanismConfig::from_toml(&text.replacen(from, to, 1))
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{to}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let zero = text
            .replace("accuracy = 0.5", "accuracy = 0.0")
            .replace("speed = 0.3", "speed = 0.0")
            .replace("robustness = 0.2", "robustness = 0.0");
        assert!(MechanismConfig::from_toml(&zero).is_err());
    }

    #[test]
    fn hostile_text_is_refused_with_one_line() {
        let big = "#".repeat(MAX_CONFIG_BYTES + 1);
        assert!(matches!(
            MechanismConfig::from_toml(&big),
            Err(ConfigError::TooLarge { .. })
        ));
        let nested = format!("x = {}{}", "[".repeat(5000), "]".repeat(5000));
        let e = MechanismConfig::from_toml(&nested).unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
        let e = MechanismConfig::from_toml("version = \n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("mechanism config: line 1"), "{e}");
        assert!(MechanismConfig::from_toml("").is_err());
        let e = MechanismConfig::builtin("nope\nx").unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
    }
}
