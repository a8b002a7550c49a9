//! Error type of the crate.

/// Everything that can go wrong when running an epoch or a scenario. All
/// variants describe invalid input; the arithmetic itself cannot fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YumaError {
    /// More uids than [`crate::MAX_UIDS`].
    #[error("too many uids: {got} (at most {max} are supported)")]
    TooManyUids {
        /// Number of uids given.
        got: usize,
        /// The limit.
        max: usize,
    },

    /// A per-uid vector or a matrix does not have one entry per uid.
    #[error("`{field}` has {got} entries but the subnet has {expected} uids")]
    LengthMismatch {
        /// Name of the offending field.
        field: &'static str,
        /// Its length.
        got: usize,
        /// The number of uids.
        expected: usize,
    },

    /// A sparse row refers to a uid that does not exist.
    #[error("`{field}` row {row} refers to uid {uid}, but the subnet has only {n} uids")]
    UidOutOfRange {
        /// `"weights"` or `"bonds"`.
        field: &'static str,
        /// Row uid.
        row: usize,
        /// Offending column uid.
        uid: u16,
        /// Number of uids.
        n: usize,
    },

    /// A sparse row lists the same column twice.
    #[error("`{field}` row {row} lists uid {uid} more than once")]
    DuplicateUid {
        /// `"weights"` or `"bonds"`.
        field: &'static str,
        /// Row uid.
        row: usize,
        /// Repeated column uid.
        uid: u16,
    },

    /// A stake is negative.
    #[error("stake of uid {uid} is negative")]
    NegativeStake {
        /// The uid.
        uid: usize,
    },

    /// The stakes add up to more than `I64F64` can hold.
    #[error("total stake does not fit in I64F64 (sum must stay below 2^63)")]
    StakeOverflow,

    /// `owner_uid` names a uid that does not exist.
    #[error("owner uid {uid} is out of range for a subnet of {n} uids")]
    OwnerUidOutOfRange {
        /// The configured owner uid.
        uid: u16,
        /// Number of uids.
        n: usize,
    },

    /// The scenario text is not valid JSON for the scenario schema.
    #[error("scenario is not valid JSON for the expected schema: {0}")]
    Json(String),

    /// The scenario parsed but is semantically invalid.
    #[error("invalid scenario: {0}")]
    InvalidScenario(String),
}
