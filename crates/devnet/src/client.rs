//! [`Chain`] over the devnet's loopback API.

use std::time::{Duration, Instant};

use medmetric_chain::{
    BlockHash, BlockInfo, Chain, ChainError, Coldkey, Commitment, CommitmentField, Hyperparameters,
    Metagraph, SparseRows, WeightCommitInfo, check_key,
};
use medmetric_core::{Hotkey, NetUid, Uid};
use medmetric_http::{Endpoint, HttpError, Limits, OutgoingRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{
    AdvanceRequest, CommitWeightsRequest, CommitmentRequest, CommitmentResponse,
    CommitmentsResponse, ErrorBody, RegisterRequest, RegisterResponse, RevealWeightsRequest,
    RowsResponse, StakeRequest, StakeResponse, WaitResponse, WeightsRequest,
};
use crate::{DevnetControl, DevnetStatus};

/// Largest response the client reads (a dense 4096-uid weight matrix fits).
const MAX_RESPONSE_BYTES: u64 = 512 << 20;
/// Longest single `GET /v1/wait` the client asks for.
const WAIT_SLICE: Duration = Duration::from_secs(20);

/// A devnet served by [`crate::DevnetServer`], possibly in another process.
/// Each call is one HTTP request on a fresh connection.
#[derive(Debug, Clone)]
pub struct DevnetClient {
    endpoint: Endpoint,
    netuid: NetUid,
    timeout: Duration,
}

impl DevnetClient {
    /// Connects to `url` (`http://HOST:PORT` or `HOST:PORT`) and reads the
    /// devnet's netuid.
    pub fn connect(url: &str) -> Result<Self, ChainError> {
        let endpoint = Endpoint::parse(url.trim(), true)
            .map_err(|e| ChainError::Transport(format!("not a devnet address: {e}")))?;
        let mut client = Self {
            endpoint,
            netuid: NetUid(0),
            timeout: Duration::from_secs(30),
        };
        client.netuid = client.status()?.netuid;
        Ok(client)
    }

    /// The same client with another per-request timeout (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        self.endpoint.url()
    }

    fn request<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<T, ChainError> {
        let url = self.url();
        let transport = |what: &str, e: &dyn std::fmt::Display| {
            ChainError::Transport(format!("{what} {url}{path}: {e}"))
        };
        let body = body.unwrap_or_default();
        let request = OutgoingRequest {
            method,
            target: path,
            headers: &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ],
            body: &[&body],
        };
        let limits = Limits::with_max_body(MAX_RESPONSE_BYTES);
        let response = match medmetric_http::exchange(&self.endpoint, &request, &limits, timeout) {
            Ok(r) => r,
            Err(HttpError::Timeout) => {
                return Err(transport("no answer in time from", &"timed out"));
            }
            Err(HttpError::Connect { reason, .. }) => {
                return Err(transport("cannot connect to", &reason));
            }
            Err(e @ (HttpError::Io(_) | HttpError::UnexpectedEof(_))) => {
                return Err(transport("connection failed with", &e));
            }
            Err(e) => {
                return Err(ChainError::Protocol(format!(
                    "bad answer from {url}{path}: {e}"
                )));
            }
        };
        let (status, bytes) = (response.status, response.body);
        if status == 200 {
            return serde_json::from_slice(&bytes).map_err(|e| {
                ChainError::Protocol(format!("unexpected JSON from {url}{path}: {e}"))
            });
        }
        let error: ErrorBody = serde_json::from_slice(&bytes).map_err(|_| {
            ChainError::Protocol(format!(
                "HTTP {status} from {url}{path} without an error body"
            ))
        })?;
        Err(match (status, error.rejection) {
            (422, Some(rejection)) => ChainError::Rejected(rejection),
            (500, _) if error.error == "storage" => ChainError::Storage(error.message),
            (408 | 503, _) => ChainError::Transport(format!("{}: {}", error.error, error.message)),
            _ => ChainError::Protocol(format!(
                "HTTP {status} from {url}{path}: {} ({})",
                error.message, error.error
            )),
        })
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ChainError> {
        self.request("GET", path, None, self.timeout)
    }

    fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ChainError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ChainError::Protocol(e.to_string()))?;
        self.request("POST", path, Some(bytes), self.timeout)
    }
}

impl Chain for DevnetClient {
    fn netuid(&self) -> NetUid {
        self.netuid
    }

    fn block(&self) -> Result<BlockInfo, ChainError> {
        self.get("/v1/block")
    }

    fn block_hash(&self, number: u64) -> Result<BlockHash, ChainError> {
        self.get::<BlockInfo>(&format!("/v1/block/{number}"))
            .map(|b| b.hash)
    }

    fn metagraph(&self) -> Result<Metagraph, ChainError> {
        self.get("/v1/metagraph")
    }

    fn weights(&self) -> Result<SparseRows, ChainError> {
        self.get::<RowsResponse>("/v1/weights").map(|r| r.rows)
    }

    fn bonds(&self) -> Result<SparseRows, ChainError> {
        self.get::<RowsResponse>("/v1/bonds").map(|r| r.rows)
    }

    fn hyperparameters(&self) -> Result<Hyperparameters, ChainError> {
        self.get("/v1/hyperparameters")
    }

    fn commitments(&self) -> Result<Vec<Commitment>, ChainError> {
        self.get::<CommitmentsResponse>("/v1/commitments")
            .map(|r| r.commitments)
    }

    fn commitment(&self, hotkey: &Hotkey) -> Result<Option<Commitment>, ChainError> {
        // The name goes into the path: refuse what could not be a hotkey.
        check_key("hotkey", &hotkey.0)?;
        self.get::<CommitmentResponse>(&format!("/v1/commitments/{}", hotkey.0))
            .map(|r| r.commitment)
    }

    fn set_commitment(
        &self,
        hotkey: &Hotkey,
        fields: &[CommitmentField],
    ) -> Result<BlockInfo, ChainError> {
        self.post(
            "/v1/commitments",
            &CommitmentRequest {
                hotkey: hotkey.clone(),
                fields: fields.to_vec(),
            },
        )
    }

    fn set_weights(
        &self,
        hotkey: &Hotkey,
        uids: &[u16],
        values: &[u16],
        version_key: u64,
    ) -> Result<BlockInfo, ChainError> {
        self.post(
            "/v1/weights",
            &WeightsRequest {
                hotkey: hotkey.clone(),
                uids: uids.to_vec(),
                values: values.to_vec(),
                version_key,
            },
        )
    }

    fn commit_weights(
        &self,
        hotkey: &Hotkey,
        hash: [u8; 32],
    ) -> Result<WeightCommitInfo, ChainError> {
        self.post(
            "/v1/weights/commit",
            &CommitWeightsRequest {
                hotkey: hotkey.clone(),
                hash,
            },
        )
    }

    fn reveal_weights(
        &self,
        hotkey: &Hotkey,
        uids: &[u16],
        values: &[u16],
        salt: &[u16],
        version_key: u64,
    ) -> Result<BlockInfo, ChainError> {
        self.post(
            "/v1/weights/reveal",
            &RevealWeightsRequest {
                hotkey: hotkey.clone(),
                uids: uids.to_vec(),
                values: values.to_vec(),
                salt: salt.to_vec(),
                version_key,
            },
        )
    }

    fn burned_register(&self, hotkey: &Hotkey, coldkey: &Coldkey) -> Result<Uid, ChainError> {
        self.post::<RegisterResponse>(
            "/v1/register",
            &RegisterRequest {
                hotkey: hotkey.clone(),
                coldkey: coldkey.clone(),
            },
        )
        .map(|r| r.uid)
    }

    fn add_stake(
        &self,
        coldkey: &Coldkey,
        hotkey: &Hotkey,
        amount: u64,
    ) -> Result<u64, ChainError> {
        self.post::<StakeResponse>(
            "/v1/stake",
            &StakeRequest {
                coldkey: coldkey.clone(),
                hotkey: hotkey.clone(),
                amount,
            },
        )
        .map(|r| r.stake)
    }

    fn wait_for_block(&self, number: u64, timeout: Duration) -> Result<BlockInfo, ChainError> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let remaining = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => WAIT_SLICE,
            };
            let slice = remaining.min(WAIT_SLICE);
            let path = format!("/v1/wait?block={number}&timeout_ms={}", slice.as_millis());
            let reply: WaitResponse = self.request("GET", &path, None, slice + self.timeout)?;
            if reply.reached {
                return Ok(reply.head);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(ChainError::Timeout {
                    target: number,
                    head: reply.head.number.0,
                });
            }
        }
    }
}

impl DevnetControl for DevnetClient {
    fn advance(&self, blocks: u64) -> Result<BlockInfo, ChainError> {
        self.post("/v1/advance", &AdvanceRequest { blocks })
    }

    fn set_hyperparameters(
        &self,
        changes: &serde_json::Value,
    ) -> Result<Hyperparameters, ChainError> {
        self.post("/v1/hyperparameters", changes)
    }

    fn status(&self) -> Result<DevnetStatus, ChainError> {
        self.get("/v1/status")
    }
}
