//! The Yuma Consensus epoch, as subtensor's `epoch_mechanism` computes it.
//!
//! [`run_epoch`] takes a snapshot of a subnet ([`EpochInput`]: per-uid stake,
//! activity and registration blocks, validator permits, the weight and bond
//! storage, hyperparameters) and returns everything the chain derives from
//! it in one epoch ([`EpochOutput`]). The computation is organised in the
//! same stages as on chain:
//!
//! 1. activity — a uid is inactive when `last_update + activity_cutoff <
//!    current_block`;
//! 2. stake — stakes below the stake threshold are zeroed (the subnet owner
//!    is exempt), the rest normalised in [`I64F64`] and narrowed to
//!    [`I32F32`];
//! 3. validator permits — the top `max_allowed_validators` non-zero stakes
//!    earn a permit for *next* epoch, the current permits decide who
//!    validates now; the active stake is the stake of active, permitted uids,
//!    renormalised;
//! 4. weights — rows of uids without a permit are dropped, self-weights are
//!    removed (except the owner's), weights set before their target's
//!    registration are removed, rows are normalised;
//! 5. consensus — stake-weighted median per column at majority `kappa`,
//!    clipping of the weights at consensus, validator trust (row sums of the
//!    clipped weights), incentive (normalised stake-weighted column sums of
//!    the clipped weights);
//! 6. bonds and dividends — original Yuma (column-normalised fixed-alpha
//!    EMA of stake-scaled weights, max-upscaled for storage) or Yuma3
//!    (per-entry EMA of the weights themselves, optionally with liquid
//!    alpha), after the bonds penalty interpolation between raw and clipped
//!    weights;
//! 7. emission — incentive and dividends normalised by their joint sum and
//!    scaled to the epoch's emission, falling back to stake when nothing is
//!    earned.
//!
//! Commit-reveal masking is not modelled: weights are taken as revealed.

use substrate_fixed::types::{I32F32, I64F64, I96F32};

use crate::MAX_UIDS;
use crate::error::YumaError;
use crate::math::{self, LiquidAlpha, SparseMatrix, U16_MAX_FIXED, ZERO};

/// Default `kappa` (consensus majority ratio, as a u16 proportion ≈ 0.5).
pub const DEFAULT_KAPPA: u16 = 32_767;
/// Default `bonds_moving_average` (parts per million ⇒ EMA alpha 0.1).
pub const DEFAULT_BONDS_MOVING_AVERAGE: u64 = 900_000;
/// Default `bonds_penalty` (u16 proportion; 65535 ⇒ bonds use clipped weights).
pub const DEFAULT_BONDS_PENALTY: u16 = u16::MAX;
/// Default `alpha_low` as stored on chain (`AlphaValues`, ≈ 0.7).
pub const DEFAULT_ALPHA_LOW: u16 = 45_875;
/// Default `alpha_high` as stored on chain (`AlphaValues`, ≈ 0.9).
pub const DEFAULT_ALPHA_HIGH: u16 = 58_982;
/// Default liquid-alpha sigmoid steepness.
pub const DEFAULT_ALPHA_SIGMOID_STEEPNESS: i16 = 1_000;
/// Default maximum number of validator permits.
pub const DEFAULT_MAX_ALLOWED_VALIDATORS: u16 = 64;
/// Default activity cutoff in blocks (the chain's value at tempo 360).
pub const DEFAULT_ACTIVITY_CUTOFF: u64 = 5_000;
/// Default tempo in blocks.
pub const DEFAULT_TEMPO: u64 = 360;

/// The chain's activity-cutoff rule: `factor_milli · tempo / 1000` blocks,
/// at least one (`get_activity_cutoff_blocks`). The default factor is 13 889.
pub fn activity_cutoff_blocks(factor_milli: u32, tempo: u64) -> u64 {
    u64::from(factor_milli)
        .saturating_mul(tempo)
        .checked_div(1000)
        .unwrap_or(0)
        .max(1)
}

/// Subnet hyperparameters that steer the epoch, in their on-chain
/// representation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochParams {
    /// Majority ratio for consensus as a u16 proportion (`kappa / 65535`).
    pub kappa: u16,
    /// Bond EMA memory in parts per million (`alpha = 1 - bma / 10^6`).
    pub bonds_moving_average: u64,
    /// How much bonds follow clipped rather than raw weights (u16 proportion).
    pub bonds_penalty: u16,
    /// Use Yuma3 bonds instead of the original EMA.
    pub yuma3: bool,
    /// Use liquid alpha (per-entry EMA coefficients) in Yuma3.
    pub liquid_alpha: bool,
    /// Lower liquid-alpha bound (u16 proportion).
    pub alpha_low: u16,
    /// Upper liquid-alpha bound (u16 proportion).
    pub alpha_high: u16,
    /// Liquid-alpha sigmoid steepness.
    pub alpha_sigmoid_steepness: i16,
    /// How many uids may hold a validator permit.
    pub max_allowed_validators: u16,
    /// Blocks after its last weight update during which a uid is active
    /// (see [`activity_cutoff_blocks`]).
    pub activity_cutoff: u64,
    /// Minimum raw stake (integer part) to count as stake at all.
    pub stake_threshold: u64,
    /// Blocks per epoch; with `last_mechanism_step_block == 0` it decides
    /// which registrations count as "since the last epoch".
    pub tempo: u64,
    /// The subnet owner's uid, if the owner hotkey is registered: it always
    /// holds a permit, is exempt from the stake threshold and keeps its
    /// self-weight.
    pub owner_uid: Option<u16>,
}

impl Default for EpochParams {
    fn default() -> Self {
        Self {
            kappa: DEFAULT_KAPPA,
            bonds_moving_average: DEFAULT_BONDS_MOVING_AVERAGE,
            bonds_penalty: DEFAULT_BONDS_PENALTY,
            yuma3: false,
            liquid_alpha: false,
            alpha_low: DEFAULT_ALPHA_LOW,
            alpha_high: DEFAULT_ALPHA_HIGH,
            alpha_sigmoid_steepness: DEFAULT_ALPHA_SIGMOID_STEEPNESS,
            max_allowed_validators: DEFAULT_MAX_ALLOWED_VALIDATORS,
            activity_cutoff: DEFAULT_ACTIVITY_CUTOFF,
            stake_threshold: 0,
            tempo: DEFAULT_TEMPO,
            owner_uid: None,
        }
    }
}

/// Subnet state at the moment an epoch runs. Every per-uid vector and both
/// matrices must have one entry (row) per uid.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochInput {
    /// Stake weight per uid, as `get_stake_weights_for_network` returns it
    /// (alpha stake plus tao-weighted root stake, in rao). Use
    /// [`stake_from_u64`] for plain integer stakes.
    pub stake: Vec<I64F64>,
    /// Block of each uid's last weight update (registration block if none).
    pub last_update: Vec<u64>,
    /// Block at which each uid was (last) registered.
    pub block_at_registration: Vec<u64>,
    /// Validator permits as currently stored (set by the previous epoch).
    pub validator_permit: Vec<bool>,
    /// Weight storage: for each uid, `(target uid, weight)` pairs as
    /// `set_weights` stores them (max-upscaled so the row maximum is 65535).
    /// Explicit zero entries are meaningful (see the crate docs).
    pub weights: Vec<Vec<(u16, u16)>>,
    /// Bond storage: for each uid, `(target uid, bond)` pairs (column
    /// max-upscaled u16 in original Yuma, u16 proportions in Yuma3).
    pub bonds: Vec<Vec<(u16, u16)>>,
    /// Block at which the epoch runs.
    pub current_block: u64,
    /// Block of the previous successful epoch (`LastMechansimStepBlock`),
    /// `0` if unknown; bonds towards uids registered at or after
    /// `last_mechanism_step_block + 1` (or `current_block - tempo` when this
    /// is `0`) are forgotten.
    pub last_mechanism_step_block: u64,
    /// Amount to distribute this epoch (rao).
    pub emission: u64,
    /// Hyperparameters.
    pub params: EpochParams,
}

/// Stake of `rao` as the chain's [`I64F64`] stake weight.
pub fn stake_from_u64(rao: u64) -> I64F64 {
    I64F64::saturating_from_num(rao)
}

impl EpochInput {
    /// A subnet of `n` uids, all registered at block 0 and last updated at
    /// block 0, without stake, permits, weights or bonds.
    pub fn new(n: usize, params: EpochParams) -> Self {
        Self {
            stake: vec![I64F64::from_bits(0); n],
            last_update: vec![0; n],
            block_at_registration: vec![0; n],
            validator_permit: vec![false; n],
            weights: vec![Vec::new(); n],
            bonds: vec![Vec::new(); n],
            current_block: 0,
            last_mechanism_step_block: 0,
            emission: 0,
            params,
        }
    }

    /// Like [`EpochInput::new`] with integer stakes (one per uid).
    pub fn with_stakes(stakes: &[u64], params: EpochParams) -> Self {
        let mut input = Self::new(stakes.len(), params);
        input.stake = stakes.iter().copied().map(stake_from_u64).collect();
        input
    }

    /// Number of uids.
    pub fn n(&self) -> usize {
        self.stake.len()
    }

    /// Store weights for `uid` the way the `set_weights` extrinsic does:
    /// the values are max-upscaled to u16 ([`math::vec_u16_max_upscale_to_u16`]),
    /// zipped with the target uids (zeros included) and `last_update` is set
    /// to `block`. Validation of the extrinsic itself (rate limits, permits,
    /// minimum lengths, version keys) is not modelled.
    ///
    /// # Errors
    ///
    /// [`YumaError::LengthMismatch`] if `uids` and `values` differ in
    /// length, [`YumaError::UidOutOfRange`] if `uid` or a target is not a uid
    /// of the subnet, [`YumaError::DuplicateUid`] for a repeated target.
    pub fn set_weights(
        &mut self,
        uid: u16,
        uids: &[u16],
        values: &[u16],
        block: u64,
    ) -> Result<(), YumaError> {
        let n = self.n();
        if uids.len() != values.len() {
            return Err(YumaError::LengthMismatch {
                field: "values",
                got: values.len(),
                expected: uids.len(),
            });
        }
        let row = usize::from(uid);
        if row >= n || row >= self.weights.len() || row >= self.last_update.len() {
            return Err(YumaError::UidOutOfRange {
                field: "weights",
                row,
                uid,
                n,
            });
        }
        let upscaled = math::vec_u16_max_upscale_to_u16(values);
        let entries: Vec<(u16, u16)> = uids.iter().copied().zip(upscaled).collect();
        check_sparse_row("weights", row, &entries, n)?;
        self.weights[row] = entries;
        self.last_update[row] = block;
        Ok(())
    }

    /// Carry an epoch's results into this state, as the chain persists them:
    /// the bond storage and the new validator permits.
    pub fn apply(&mut self, output: &EpochOutput) {
        self.bonds.clone_from(&output.bonds);
        self.validator_permit.clone_from(&output.validator_permit);
    }

    /// Check shapes and ranges; [`run_epoch`] calls this first.
    ///
    /// # Errors
    ///
    /// Any [`YumaError`] describing the first problem found.
    pub fn validate(&self) -> Result<(), YumaError> {
        let n = self.n();
        if n > MAX_UIDS {
            return Err(YumaError::TooManyUids {
                got: n,
                max: MAX_UIDS,
            });
        }
        let lengths = [
            ("last_update", self.last_update.len()),
            ("block_at_registration", self.block_at_registration.len()),
            ("validator_permit", self.validator_permit.len()),
            ("weights", self.weights.len()),
            ("bonds", self.bonds.len()),
        ];
        for (field, got) in lengths {
            if got != n {
                return Err(YumaError::LengthMismatch {
                    field,
                    got,
                    expected: n,
                });
            }
        }
        for (row, entries) in self.weights.iter().enumerate() {
            check_sparse_row("weights", row, entries, n)?;
        }
        for (row, entries) in self.bonds.iter().enumerate() {
            check_sparse_row("bonds", row, entries, n)?;
        }
        let zero = I64F64::from_bits(0);
        let mut total = zero;
        for (uid, &s) in self.stake.iter().enumerate() {
            if s < zero {
                return Err(YumaError::NegativeStake { uid });
            }
            total = total.checked_add(s).ok_or(YumaError::StakeOverflow)?;
        }
        if let Some(owner) = self.params.owner_uid
            && usize::from(owner) >= n
        {
            return Err(YumaError::OwnerUidOutOfRange { uid: owner, n });
        }
        Ok(())
    }
}

/// Reject out-of-range and repeated columns in one sparse row.
fn check_sparse_row(
    field: &'static str,
    row: usize,
    entries: &[(u16, u16)],
    n: usize,
) -> Result<(), YumaError> {
    let mut seen = vec![false; n];
    for &(uid, _) in entries {
        match seen.get_mut(usize::from(uid)) {
            None => {
                return Err(YumaError::UidOutOfRange { field, row, uid, n });
            }
            Some(true) => return Err(YumaError::DuplicateUid { field, row, uid }),
            Some(flag) => *flag = true,
        }
    }
    Ok(())
}

/// Everything one epoch produces. Fractions are [`I32F32`] exactly as
/// computed; [`EpochOutput::stored`] gives the u16 forms the chain keeps.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochOutput {
    /// Whether each uid was active (updated within the activity cutoff).
    pub active: Vec<bool>,
    /// Stake after the threshold filter, normalised to sum to one.
    pub stake: Vec<I32F32>,
    /// Stake of active uids holding a (current) permit, renormalised.
    pub active_stake: Vec<I32F32>,
    /// Validator permits for the next epoch (top-k non-zero stake).
    pub validator_permit: Vec<bool>,
    /// Consensus weight per uid (stake-weighted median of its column).
    pub consensus: Vec<I32F32>,
    /// Validator trust: row sums of the clipped weights.
    pub validator_trust: Vec<I32F32>,
    /// Incentive: normalised stake-weighted sums of clipped weights (the
    /// chain's normalised rank).
    pub incentive: Vec<I32F32>,
    /// Dividends, normalised.
    pub dividends: Vec<I32F32>,
    /// Rao paid to each uid for serving (its incentive share).
    pub server_emission: Vec<u64>,
    /// Rao paid to each uid for validating (its dividend share).
    pub validator_emission: Vec<u64>,
    /// Combined emission per uid as the chain records it (`Emission`):
    /// `incentive + dividends` renormalised and scaled, or the stake
    /// fallback when nothing was earned. Differs from
    /// `server_emission + validator_emission` by rounding only.
    pub emission: Vec<u64>,
    /// Bond storage after the epoch: each uid holding a permit for the next
    /// epoch stores its new bonds (u16), every other uid an empty row — the
    /// chain persists a row for every uid.
    pub bonds: Vec<Vec<(u16, u16)>>,
}

/// The u16 forms of an epoch's fractions, as the chain stores them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTerms {
    /// `StakeWeight`.
    pub stake_weight: Vec<u16>,
    /// `Consensus`.
    pub consensus: Vec<u16>,
    /// `Incentive`.
    pub incentive: Vec<u16>,
    /// `Dividends`.
    pub dividends: Vec<u16>,
    /// `ValidatorTrust`.
    pub validator_trust: Vec<u16>,
}

impl EpochOutput {
    /// Fractions converted with [`math::fixed_proportion_to_u16`].
    pub fn stored(&self) -> StoredTerms {
        let conv = math::vec_fixed_proportions_to_u16;
        StoredTerms {
            stake_weight: conv(&self.stake),
            consensus: conv(&self.consensus),
            incentive: conv(&self.incentive),
            dividends: conv(&self.dividends),
            validator_trust: conv(&self.validator_trust),
        }
    }

    /// Bond storage as a dense `n × n` matrix (absent entries are 0).
    pub fn bonds_dense(&self) -> Vec<Vec<u16>> {
        let n = self.bonds.len();
        self.bonds
            .iter()
            .map(|row| {
                let mut dense = vec![0u16; n];
                for &(j, b) in row {
                    if let Some(cell) = dense.get_mut(usize::from(j)) {
                        *cell = b;
                    }
                }
                dense
            })
            .collect()
    }
}

/// Stake stage: threshold filter, normalisation, narrowing to [`I32F32`].
fn normalised_stake(input: &EpochInput) -> Vec<I32F32> {
    let owner = input.params.owner_uid.map(usize::from);
    let mut filtered: Vec<I64F64> = input
        .stake
        .iter()
        .enumerate()
        .map(|(uid, &s)| {
            if owner != Some(uid) && math::fixed64_to_u64(s) < input.params.stake_threshold {
                I64F64::from_bits(0)
            } else {
                s
            }
        })
        .collect();
    math::inplace_normalize_64(&mut filtered);
    math::vec_fixed64_to_fixed32(&filtered)
}

/// Force the owner's flag on, if there is an owner.
fn grant_owner(flags: &mut [bool], owner: Option<u16>) {
    if let Some(flag) = owner.and_then(|o| flags.get_mut(usize::from(o))) {
        *flag = true;
    }
}

/// Permits the epoch would assign from the current stake: the top
/// `max_allowed_validators` uids with non-zero (thresholded, normalised)
/// stake, plus the owner. This is what a first epoch leaves in
/// `ValidatorPermit`.
///
/// # Errors
///
/// As [`EpochInput::validate`].
pub fn validator_permits_from_stake(input: &EpochInput) -> Result<Vec<bool>, YumaError> {
    input.validate()?;
    let stake = normalised_stake(input);
    let mut permits =
        math::is_topk_nonzero(&stake, usize::from(input.params.max_allowed_validators));
    grant_owner(&mut permits, input.params.owner_uid);
    Ok(permits)
}

/// Weight stage: permit / self-weight / outdated masks, then row
/// normalisation.
fn effective_weights(input: &EpochInput, forbidden: &[bool]) -> SparseMatrix {
    let raw: SparseMatrix = input
        .weights
        .iter()
        .map(|row| {
            row.iter()
                .map(|&(j, w)| (j, math::u16_to_fixed(w)))
                .collect()
        })
        .collect();
    let permitted = math::mask_rows_sparse(forbidden, &raw);
    let without_self = match input.params.owner_uid {
        Some(owner) => math::mask_diag_sparse_except_index(&permitted, owner),
        None => math::mask_diag_sparse(&permitted),
    };
    let mut current = math::vec_mask_sparse_matrix(
        &without_self,
        &input.last_update,
        &input.block_at_registration,
        &|updated, registered| updated <= registered,
    );
    math::inplace_row_normalize_sparse(&mut current);
    current
}

/// First block of the window in which registrations invalidate bonds.
fn last_tempo_block(input: &EpochInput) -> u64 {
    if input.last_mechanism_step_block == 0 {
        input.current_block.saturating_sub(input.params.tempo)
    } else {
        input.last_mechanism_step_block.saturating_add(1)
    }
}

/// Stored bonds as a sparse fixed matrix, dropping columns of uids
/// registered since the last epoch. `as_fraction` divides by 65535 (Yuma3).
fn previous_bonds(input: &EpochInput, as_fraction: bool) -> SparseMatrix {
    let raw: SparseMatrix = input
        .bonds
        .iter()
        .map(|row| {
            row.iter()
                .map(|&(j, b)| {
                    let v = math::u16_to_fixed(b);
                    (
                        j,
                        if as_fraction {
                            math::fixed_to_fixed_u16_proportion(v)
                        } else {
                            v
                        },
                    )
                })
                .collect()
        })
        .collect();
    math::scalar_vec_mask_sparse_matrix(
        &raw,
        last_tempo_block(input),
        &input.block_at_registration,
        &|last_tempo, registered| last_tempo <= registered,
    )
}

/// New bonds (for storage) and dividends.
struct BondsStage {
    /// Bonds in the fixed form that is converted to u16 for storage.
    ema: SparseMatrix,
    dividends: Vec<I32F32>,
}

/// Original Yuma: EMA of column-normalised stake-scaled weights.
fn original_bonds(
    input: &EpochInput,
    weights_for_bonds: &SparseMatrix,
    active_stake: &[I32F32],
    incentive: &[I32F32],
    n: u16,
) -> BondsStage {
    let mut old = previous_bonds(input, false);
    math::inplace_col_normalize_sparse(&mut old, n);
    let mut delta = math::row_hadamard_sparse(weights_for_bonds, active_stake);
    math::inplace_col_normalize_sparse(&mut delta, n);
    let alpha = math::ema_alpha_from_moving_average(input.params.bonds_moving_average);
    let mut ema = math::mat_ema_sparse(&delta, &old, alpha);
    math::inplace_col_normalize_sparse(&mut ema, n);
    let mut dividends = math::matmul_transpose_sparse(&ema, incentive);
    math::inplace_normalize(&mut dividends);
    math::inplace_col_max_upscale_sparse(&mut ema, n);
    BondsStage { ema, dividends }
}

/// Yuma3: per-entry EMA of the weights themselves; dividends from the
/// column-normalised bonds weighted by incentive, scaled by active stake.
fn yuma3_bonds(
    input: &EpochInput,
    weights_for_bonds: &SparseMatrix,
    consensus: &[I32F32],
    active_stake: &[I32F32],
    incentive: &[I32F32],
    n: u16,
) -> BondsStage {
    let p = &input.params;
    let old = previous_bonds(input, true);
    let liquid = LiquidAlpha::from_chain(p.alpha_low, p.alpha_high, p.alpha_sigmoid_steepness);
    let ema = math::compute_bonds_sparse(
        weights_for_bonds,
        &old,
        consensus,
        p.liquid_alpha.then_some(&liquid),
        p.bonds_moving_average,
    );
    let mut shares = ema.clone();
    math::inplace_col_normalize_sparse(&mut shares, n);
    let per_validator = math::row_sum_sparse(&math::mat_vec_mul_sparse(&shares, incentive));
    let mut dividends = math::vec_mul(&per_validator, active_stake);
    math::inplace_normalize(&mut dividends);
    BondsStage { ema, dividends }
}

/// Emission stage: `(server, validator, combined)` rao per uid.
fn emissions(
    input: &EpochInput,
    stake: &[I32F32],
    active_stake: &[I32F32],
    incentive: &[I32F32],
    dividends: &[I32F32],
) -> (Vec<u64>, Vec<u64>, Vec<u64>) {
    let combined: Vec<I32F32> = incentive
        .iter()
        .zip(dividends)
        .map(|(&i, &d)| i.saturating_add(d))
        .collect();
    let total = math::sum(&combined);
    let mut server = incentive.to_vec();
    let mut validator = dividends.to_vec();
    let mut overall = combined;
    math::inplace_normalize_using_sum(&mut server, total);
    math::inplace_normalize_using_sum(&mut validator, total);
    math::inplace_normalize(&mut overall);
    if total == ZERO {
        let fallback = if math::is_zero(active_stake) {
            stake
        } else {
            active_stake
        };
        validator = fallback.to_vec();
        overall = fallback.to_vec();
    }
    let rao = I96F32::saturating_from_num(input.emission);
    let scale = |shares: &[I32F32]| -> Vec<u64> {
        shares
            .iter()
            .map(|&s| {
                I96F32::saturating_from_num(s)
                    .saturating_mul(rao)
                    .saturating_to_num::<u64>()
            })
            .collect()
    };
    (scale(&server), scale(&validator), scale(&overall))
}

/// Run one epoch.
///
/// # Errors
///
/// Any [`YumaError`] from [`EpochInput::validate`]; no other failure is
/// possible.
pub fn run_epoch(input: &EpochInput) -> Result<EpochOutput, YumaError> {
    input.validate()?;
    let p = &input.params;
    let n_usize = input.n();
    // `validate` caps n at MAX_UIDS, far below u16::MAX.
    let n = u16::try_from(n_usize).unwrap_or(u16::MAX);

    // 1. Activity.
    let inactive: Vec<bool> = input
        .last_update
        .iter()
        .map(|&u| u.saturating_add(p.activity_cutoff) < input.current_block)
        .collect();
    let active: Vec<bool> = inactive.iter().map(|&x| !x).collect();

    // 2. Stake.
    let stake = normalised_stake(input);

    // 3. Permits and active stake.
    let mut permits = input.validator_permit.clone();
    grant_owner(&mut permits, p.owner_uid);
    let forbidden: Vec<bool> = permits.iter().map(|&x| !x).collect();
    let mut new_permits = math::is_topk_nonzero(&stake, usize::from(p.max_allowed_validators));
    grant_owner(&mut new_permits, p.owner_uid);
    let mut active_stake = stake.clone();
    math::inplace_mask_vector(&inactive, &mut active_stake);
    math::inplace_mask_vector(&forbidden, &mut active_stake);
    math::inplace_normalize(&mut active_stake);

    // 4. Weights.
    let weights = effective_weights(input, &forbidden);

    // 5. Consensus, trust, incentive.
    let kappa = math::safe_div(I32F32::saturating_from_num(p.kappa), U16_MAX_FIXED);
    let consensus = math::weighted_median_col_sparse(&active_stake, &weights, n, kappa);
    let clipped = math::col_clip_sparse(&weights, &consensus);
    let validator_trust = math::row_sum_sparse(&clipped);
    let mut incentive = math::matmul_sparse(&clipped, &active_stake, n);
    math::inplace_normalize(&mut incentive);

    // 6. Bonds and dividends.
    let penalty = math::safe_div(I32F32::saturating_from_num(p.bonds_penalty), U16_MAX_FIXED);
    let weights_for_bonds = math::interpolate_sparse(&weights, &clipped, n, penalty);
    let BondsStage { ema, dividends } = if p.yuma3 {
        yuma3_bonds(
            input,
            &weights_for_bonds,
            &consensus,
            &active_stake,
            &incentive,
            n,
        )
    } else {
        original_bonds(input, &weights_for_bonds, &active_stake, &incentive, n)
    };

    // 7. Emission.
    let (server_emission, validator_emission, emission) =
        emissions(input, &stake, &active_stake, &incentive, &dividends);

    // Bond storage: the chain rewrites every uid's row — the new bonds for
    // uids that hold a permit for the next epoch, an empty row for all others.
    let bonds: Vec<Vec<(u16, u16)>> = (0..n_usize)
        .map(|uid| match (new_permits.get(uid), ema.get(uid)) {
            (Some(true), Some(row)) => row
                .iter()
                .map(|&(j, v)| (j, math::fixed_proportion_to_u16(v)))
                .collect(),
            _ => Vec::new(),
        })
        .collect();

    Ok(EpochOutput {
        active,
        stake,
        active_stake,
        validator_permit: new_permits,
        consensus,
        validator_trust,
        incentive,
        dividends,
        server_emission,
        validator_emission,
        emission,
        bonds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> EpochInput {
        let mut input = EpochInput::with_stakes(&[10, 30, 0, 0], EpochParams::default());
        input.validator_permit = vec![true, true, false, false];
        input.current_block = 2;
        input.last_update = vec![2; 4];
        input.weights[0] = vec![(2, 65535), (3, 0)];
        input.weights[1] = vec![(2, 30000), (3, 65535)];
        input.emission = 1_000_000_000;
        input
    }

    #[test]
    fn rejects_length_mismatch() {
        let mut input = small();
        input.last_update.pop();
        assert_eq!(
            run_epoch(&input),
            Err(YumaError::LengthMismatch {
                field: "last_update",
                got: 3,
                expected: 4
            })
        );
        let mut input = small();
        input.bonds.push(Vec::new());
        assert!(matches!(
            run_epoch(&input),
            Err(YumaError::LengthMismatch { field: "bonds", .. })
        ));
    }

    #[test]
    fn rejects_bad_sparse_rows() {
        let mut input = small();
        input.weights[1].push((4, 1));
        assert_eq!(
            run_epoch(&input),
            Err(YumaError::UidOutOfRange {
                field: "weights",
                row: 1,
                uid: 4,
                n: 4
            })
        );
        let mut input = small();
        input.bonds[0] = vec![(2, 1), (2, 5)];
        assert_eq!(
            run_epoch(&input),
            Err(YumaError::DuplicateUid {
                field: "bonds",
                row: 0,
                uid: 2
            })
        );
    }

    #[test]
    fn rejects_bad_stake_and_owner() {
        let mut input = small();
        input.stake[2] = I64F64::from_num(-1);
        assert_eq!(run_epoch(&input), Err(YumaError::NegativeStake { uid: 2 }));
        let mut input = small();
        input.stake[0] = I64F64::max_value();
        assert_eq!(run_epoch(&input), Err(YumaError::StakeOverflow));
        let mut input = small();
        input.params.owner_uid = Some(9);
        assert_eq!(
            run_epoch(&input),
            Err(YumaError::OwnerUidOutOfRange { uid: 9, n: 4 })
        );
    }

    #[test]
    fn rejects_too_many_uids() {
        let input = EpochInput::new(MAX_UIDS + 1, EpochParams::default());
        assert!(matches!(
            run_epoch(&input),
            Err(YumaError::TooManyUids { .. })
        ));
    }

    #[test]
    fn empty_subnet_is_fine() {
        let out = run_epoch(&EpochInput::new(0, EpochParams::default())).unwrap();
        assert!(out.emission.is_empty() && out.bonds.is_empty());
    }

    #[test]
    fn set_weights_upscales_and_validates() {
        let mut input = small();
        input.set_weights(0, &[2, 3], &[1, 2], 7).unwrap();
        assert_eq!(input.weights[0], vec![(2, 32768), (3, 65535)]);
        assert_eq!(input.last_update[0], 7);
        assert!(input.set_weights(0, &[2], &[1, 2], 7).is_err());
        assert!(input.set_weights(9, &[2], &[1], 7).is_err());
        assert!(input.set_weights(0, &[2, 2], &[1, 1], 7).is_err());
        assert!(input.set_weights(0, &[5], &[1], 7).is_err());
    }

    #[test]
    fn emission_splits_between_servers_and_validators() {
        let out = run_epoch(&small()).unwrap();
        let server: u64 = out.server_emission.iter().sum();
        let validator: u64 = out.validator_emission.iter().sum();
        let total: u64 = out.emission.iter().sum();
        // Incentive and dividends each sum to one: half of the emission each.
        assert!((499_999_990..=500_000_000).contains(&server), "{server}");
        assert!(
            (499_999_990..=500_000_000).contains(&validator),
            "{validator}"
        );
        assert!((999_999_980..=1_000_000_000).contains(&total), "{total}");
        // Validators that keep their permit get bonds; servers keep none.
        assert!(!out.bonds[0].is_empty() && !out.bonds[1].is_empty());
        assert!(out.bonds[2].is_empty() && out.bonds[3].is_empty());
    }

    #[test]
    fn bonds_are_kept_only_with_a_permit() {
        let mut input = small();
        input.bonds[2] = vec![(3, 100)];
        input.validator_permit[2] = true;
        input.bonds[3] = vec![(2, 100)];
        let out = run_epoch(&input).unwrap();
        // uid 2 has no stake: it loses its permit and its bonds.
        assert!(!out.validator_permit[2]);
        assert!(out.bonds[2].is_empty());
        // uid 3 never had a permit: its stale row is cleared as well.
        assert!(out.bonds[3].is_empty());
    }

    #[test]
    fn owner_keeps_self_weight_and_permit() {
        let mut input = small();
        input.params.owner_uid = Some(2);
        input.weights[2] = vec![(2, 65535)];
        let out = run_epoch(&input).unwrap();
        assert!(out.validator_permit[2]);
        // With zero stake the owner's row carries no stake, so it does not move
        // consensus, but it is not masked away either: trust counts it.
        assert!(out.validator_trust[2] > ZERO);
    }

    #[test]
    fn activity_cutoff_rule() {
        assert_eq!(activity_cutoff_blocks(13_889, 360), 5000);
        assert_eq!(activity_cutoff_blocks(13_889, 1), 13);
        assert_eq!(activity_cutoff_blocks(13_889, 0), 1);
        assert_eq!(activity_cutoff_blocks(u32::MAX, u64::MAX), u64::MAX / 1000);
    }

    mod no_panics {
        use super::*;
        use proptest::prelude::*;

        fn any_row() -> impl Strategy<Value = Vec<(u16, u16)>> {
            proptest::collection::vec((0u16..12, any::<u16>()), 0..8)
        }

        proptest! {
            /// Arbitrary (often invalid) input never panics: it is either
            /// rejected or computed.
            #[test]
            fn run_epoch_is_total(
                n in 0usize..10,
                extra in 0usize..2,
                stakes in proptest::collection::vec((any::<u32>(), 0u32..72), 0..12),
                sanitize in any::<bool>(),
                rows in proptest::collection::vec(any_row(), 0..12),
                bonds in proptest::collection::vec(any_row(), 0..12),
                blocks in proptest::collection::vec(any::<u64>(), 0..12),
                permits in proptest::collection::vec(any::<bool>(), 0..12),
                kappa in any::<u16>(),
                bma in any::<u64>(),
                penalty in any::<u16>(),
                flags in any::<(bool, bool)>(),
                alphas in any::<(u16, u16, i16)>(),
                maxv in any::<u16>(),
                cutoff in any::<u64>(),
                threshold in any::<u64>(),
                tempo in any::<u64>(),
                owner in proptest::option::of(any::<u16>()),
                current in any::<u64>(),
                lms in any::<u64>(),
                emission in any::<u64>(),
            ) {
                let take = |len: usize| n + extra * (len % 2);
                let mut input = EpochInput::new(n, EpochParams {
                    kappa,
                    bonds_moving_average: bma,
                    bonds_penalty: penalty,
                    yuma3: flags.0,
                    liquid_alpha: flags.1,
                    alpha_low: alphas.0,
                    alpha_high: alphas.1,
                    alpha_sigmoid_steepness: alphas.2,
                    max_allowed_validators: maxv,
                    activity_cutoff: cutoff,
                    stake_threshold: threshold,
                    tempo,
                    owner_uid: owner,
                });
                input.stake = stakes
                    .iter()
                    .cycle()
                    .take(n)
                    .map(|&(v, shift)| I64F64::from_bits(i128::from(v) << shift))
                    .collect();
                input.weights = rows.iter().cycle().take(take(rows.len())).cloned().collect();
                input.bonds = bonds.iter().cycle().take(n).cloned().collect();
                input.last_update = blocks.iter().cycle().take(n).copied().collect();
                input.block_at_registration = blocks.iter().rev().cycle().take(n).copied().collect();
                input.validator_permit = permits.iter().cycle().take(n).copied().collect();
                input.current_block = current;
                input.last_mechanism_step_block = lms;
                input.emission = emission;
                if sanitize {
                    for row in input.weights.iter_mut().chain(input.bonds.iter_mut()) {
                        row.retain(|&(j, _)| usize::from(j) < n);
                        let mut seen = [false; 12];
                        row.retain(|&(j, _)| !std::mem::replace(&mut seen[usize::from(j)], true));
                    }
                    input.weights.resize(n, Vec::new());
                    input.bonds.resize(n, Vec::new());
                    input.stake.resize(n, I64F64::from_bits(0));
                    input.last_update.resize(n, 0);
                    input.block_at_registration.resize(n, 0);
                    input.validator_permit.resize(n, false);
                    input.params.owner_uid = owner.filter(|&o| usize::from(o) < n);
                }
                let result = run_epoch(&input);
                if sanitize {
                    prop_assert!(result.is_ok() || matches!(result, Err(YumaError::StakeOverflow)), "{:?}", result);
                }
            }
        }
    }
}
