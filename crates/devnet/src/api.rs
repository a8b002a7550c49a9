//! JSON bodies of the loopback API, shared by the server and the client.
//! `docs/devnet.md` documents every route with these shapes.

use medmetric_chain::{
    BlockInfo, Coldkey, Commitment, CommitmentField, Rejection, SparseRows, hex32,
};
use medmetric_core::{Hotkey, Uid};
use serde::{Deserialize, Serialize};

/// `POST /v1/register`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterRequest {
    pub hotkey: Hotkey,
    pub coldkey: Coldkey,
}

/// Answer to `POST /v1/register`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RegisterResponse {
    pub uid: Uid,
}

/// `POST /v1/stake`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StakeRequest {
    pub coldkey: Coldkey,
    pub hotkey: Hotkey,
    pub amount: u64,
}

/// Answer to `POST /v1/stake`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StakeResponse {
    pub stake: u64,
}

/// `POST /v1/commitments`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommitmentRequest {
    pub hotkey: Hotkey,
    pub fields: Vec<CommitmentField>,
}

/// `POST /v1/weights`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WeightsRequest {
    pub hotkey: Hotkey,
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    #[serde(default)]
    pub version_key: u64,
}

/// `POST /v1/weights/commit`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommitWeightsRequest {
    pub hotkey: Hotkey,
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
}

/// `POST /v1/weights/reveal`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevealWeightsRequest {
    pub hotkey: Hotkey,
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    pub salt: Vec<u16>,
    #[serde(default)]
    pub version_key: u64,
}

fn one() -> u64 {
    1
}

/// `POST /v1/advance`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdvanceRequest {
    #[serde(default = "one")]
    pub blocks: u64,
}

/// Answer to `GET /v1/wait`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WaitResponse {
    pub reached: bool,
    pub head: BlockInfo,
}

/// Answer to `GET /v1/weights` and `GET /v1/bonds`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RowsResponse {
    pub rows: SparseRows,
}

/// Answer to `GET /v1/commitments`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CommitmentsResponse {
    pub commitments: Vec<Commitment>,
}

/// Answer to `GET /v1/commitments/{hotkey}`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CommitmentResponse {
    pub commitment: Option<Commitment>,
}

/// Body of every non-200 answer.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ErrorBody {
    /// `rejected`, `bad_request`, `not_found`, `method_not_allowed`,
    /// `timeout`, `too_large`, `busy`, `storage` or `internal`.
    pub error: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection: Option<Rejection>,
}
