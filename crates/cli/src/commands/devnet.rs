//! `medmetric devnet serve|status|block|metagraph|...`: run a local devnet
//! chain on 127.0.0.1, or talk to one.
//!
//! Client subcommands print one line of JSON on stdout. A request the chain
//! refuses exits 1 and prints `{"rejected":{...},"message":"..."}`; a chain
//! that cannot be reached or fails exits 2 with `error: ...` on stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use medmetric_chain::{
    Chain, ChainError, Coldkey, CommitmentField, Hyperparameters, weights_commit_hash,
};
use medmetric_core::{Hotkey, NetUid};
use medmetric_devnet::{
    Devnet, DevnetClient, DevnetConfig, DevnetControl, DevnetServer, ServerOptions,
};
use serde_json::json;

use super::{print_json, read_capped};

#[derive(Debug, Subcommand)]
pub enum DevnetCommand {
    /// Serve a devnet on 127.0.0.1 until killed.
    ///
    /// The first line on stdout is `listening on 127.0.0.1:PORT`. With
    /// `--state` the chain lives in that SQLite file: a restart on the same
    /// file continues where the chain stopped (genesis flags are then
    /// ignored); without it the chain lives in memory.
    Serve(ServeArgs),
    /// Block, epoch and emission counters.
    Status(UrlArgs),
    /// The head block, or block `--number`.
    Block(BlockArgs),
    /// The subnet's metagraph.
    Metagraph(UrlArgs),
    /// Stored weights, one sparse [uid, value] row per uid.
    Weights(UrlArgs),
    /// Stored bonds, one sparse [uid, value] row per uid.
    Bonds(UrlArgs),
    /// Print the hyperparameters, or change them with `--set`.
    Hyperparameters(HyperparametersArgs),
    /// Register a hotkey (burned registration); prints {"uid":N}.
    Register(RegisterArgs),
    /// Add stake to a hotkey; prints {"stake":RAO}.
    Stake(StakeArgs),
    /// Set a hotkey's commitment from `--field` values, in order.
    Commit(CommitArgs),
    /// Every commitment, or one hotkey's.
    Commitments(CommitmentsArgs),
    /// Set weights (commit-reveal off).
    SetWeights(WeightsArgs),
    /// Commit the hash of weights and a salt (commit-reveal on).
    CommitWeights(SaltedWeightsArgs),
    /// Reveal committed weights, `reveal_period` epochs after the commit.
    RevealWeights(SaltedWeightsArgs),
    /// Produce blocks (running due epochs); prints the new head.
    Advance(AdvanceArgs),
    /// Wait until the chain reaches a block; prints it.
    Wait(WaitArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long)]
    pub port: u16,
    /// SQLite state file (created if absent).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Produce a block every N milliseconds; without it blocks come only
    /// from `devnet advance`.
    #[arg(long)]
    pub block_interval_ms: Option<u64>,
    /// Genesis: the subnet's netuid.
    #[arg(long, default_value_t = 1)]
    pub netuid: u16,
    /// Genesis: the chain id hashed into every block.
    #[arg(long, default_value = "medmetric-devnet")]
    pub chain_id: String,
    /// Genesis: the subnet owner's hotkey (never pruned, always permitted).
    #[arg(long)]
    pub owner_hotkey: Option<String>,
    /// Genesis: JSON file of hyperparameters (any subset; the rest default).
    #[arg(long)]
    pub hyperparameters: Option<PathBuf>,
    /// Genesis: tempo (overrides the file).
    #[arg(long)]
    pub tempo: Option<u16>,
}

#[derive(Debug, Args)]
pub struct UrlArgs {
    /// The devnet server, e.g. http://127.0.0.1:9944.
    #[arg(long)]
    pub url: String,
}

#[derive(Debug, Args)]
pub struct BlockArgs {
    #[command(flatten)]
    pub url: UrlArgs,
    /// A past block's number.
    #[arg(long)]
    pub number: Option<u64>,
}

#[derive(Debug, Args)]
pub struct HyperparametersArgs {
    #[command(flatten)]
    pub url: UrlArgs,
    /// JSON object of changes, e.g. '{"tempo":10,"commit_reveal_enabled":true}'.
    #[arg(long)]
    pub set: Option<String>,
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub url: UrlArgs,
    /// The hotkey to register.
    #[arg(long)]
    pub hotkey: String,
    /// The coldkey that owns it.
    #[arg(long)]
    pub coldkey: String,
}

#[derive(Debug, Args)]
pub struct StakeArgs {
    #[command(flatten)]
    pub url: UrlArgs,
    /// The staking coldkey.
    #[arg(long)]
    pub coldkey: String,
    /// The hotkey staked to.
    #[arg(long)]
    pub hotkey: String,
    /// Amount in rao.
    #[arg(long)]
    pub amount: u64,
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    #[command(flatten)]
    pub url: UrlArgs,
    /// The committing hotkey.
    #[arg(long)]
    pub hotkey: String,
    /// A field: `raw:TEXT`, `raw-hex:HEX`, `big-raw:TEXT`, `big-raw-hex:HEX`,
    /// `sha256:HEX`, `blake-two256:HEX`, `keccak256:HEX`, `sha-three256:HEX`,
    /// `none` or `reset-bonds`. Repeat for up to 3 fields.
    #[arg(long = "field", value_parser = parse_field)]
    pub fields: Vec<CommitmentField>,
}

#[derive(Debug, Args)]
pub struct CommitmentsArgs {
    #[command(flatten)]
    pub url: UrlArgs,
    /// Only this hotkey's commitment (or null).
    #[arg(long)]
    pub hotkey: Option<String>,
}

#[derive(Debug, Args)]
pub struct WeightsArgs {
    #[command(flatten)]
    pub url: UrlArgs,
    /// The validator's hotkey.
    #[arg(long)]
    pub hotkey: String,
    /// Target uids, comma separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub uids: Vec<u16>,
    /// u16 weights, comma separated, one per uid.
    #[arg(long, value_delimiter = ',', required = true)]
    pub values: Vec<u16>,
    /// Weights version key.
    #[arg(long, default_value_t = 0)]
    pub version_key: u64,
}

#[derive(Debug, Args)]
pub struct SaltedWeightsArgs {
    #[command(flatten)]
    pub weights: WeightsArgs,
    /// u16 salt, comma separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub salt: Vec<u16>,
}

#[derive(Debug, Args)]
pub struct AdvanceArgs {
    #[command(flatten)]
    pub url: UrlArgs,
    /// Blocks to produce.
    #[arg(long, default_value_t = 1)]
    pub blocks: u64,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[command(flatten)]
    pub url: UrlArgs,
    /// The block to wait for.
    #[arg(long)]
    pub block: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
}

fn parse_field(s: &str) -> Result<CommitmentField, String> {
    let (kind, value) = s.split_once(':').unwrap_or((s, ""));
    // Hex payloads go through the field's own JSON form, which checks them.
    let from_hex = |json_kind: &str| {
        serde_json::from_value(json!({ json_kind: value })).map_err(|e| format!("`{kind}`: {e}"))
    };
    match kind {
        "none" => Ok(CommitmentField::None),
        "reset-bonds" => Ok(CommitmentField::ResetBondsFlag),
        "raw" => Ok(CommitmentField::Raw(value.as_bytes().to_vec())),
        "big-raw" => Ok(CommitmentField::BigRaw(value.as_bytes().to_vec())),
        "raw-hex" => from_hex("raw"),
        "big-raw-hex" => from_hex("big_raw"),
        "sha256" => from_hex("sha256"),
        "blake-two256" => from_hex("blake_two256"),
        "keccak256" => from_hex("keccak256"),
        "sha-three256" => from_hex("sha_three256"),
        other => Err(format!("unknown field kind `{other}`")),
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn run(cmd: DevnetCommand) -> anyhow::Result<ExitCode> {
    if let DevnetCommand::Serve(args) = cmd {
        return serve(args);
    }
    match client_command(cmd) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(ChainError::Rejected(rejection)) => {
            print_json(&json!({"rejected": rejection, "message": rejection.to_string()}))?;
            eprintln!("error: rejected by the chain: {rejection}");
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

fn client(url: &UrlArgs) -> Result<DevnetClient, ChainError> {
    DevnetClient::connect(&url.url)
}

fn show(value: &impl serde::Serialize) -> Result<(), ChainError> {
    print_json(value).map_err(|e| ChainError::Transport(format!("cannot print: {e}")))
}

fn client_command(cmd: DevnetCommand) -> Result<(), ChainError> {
    match cmd {
        DevnetCommand::Serve(_) => Ok(()),
        DevnetCommand::Status(a) => show(&client(&a)?.status()?),
        DevnetCommand::Block(a) => {
            let c = client(&a.url)?;
            match a.number {
                None => show(&c.block()?),
                Some(n) => show(&json!({"number": n, "hash": c.block_hash(n)?})),
            }
        }
        DevnetCommand::Metagraph(a) => show(&client(&a)?.metagraph()?),
        DevnetCommand::Weights(a) => show(&json!({"rows": client(&a)?.weights()?})),
        DevnetCommand::Bonds(a) => show(&json!({"rows": client(&a)?.bonds()?})),
        DevnetCommand::Hyperparameters(a) => {
            let c = client(&a.url)?;
            match a.set {
                None => show(&c.hyperparameters()?),
                Some(text) => {
                    let changes: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                        ChainError::Rejected(medmetric_chain::Rejection::InvalidHyperparameter {
                            name: "(--set)".to_string(),
                            reason: e.to_string(),
                        })
                    })?;
                    show(&c.set_hyperparameters(&changes)?)
                }
            }
        }
        DevnetCommand::Register(a) => {
            let uid = client(&a.url)?.burned_register(&Hotkey(a.hotkey), &Coldkey(a.coldkey))?;
            show(&json!({"uid": uid}))
        }
        DevnetCommand::Stake(a) => {
            let stake =
                client(&a.url)?.add_stake(&Coldkey(a.coldkey), &Hotkey(a.hotkey), a.amount)?;
            show(&json!({"stake": stake}))
        }
        DevnetCommand::Commit(a) => {
            show(&client(&a.url)?.set_commitment(&Hotkey(a.hotkey), &a.fields)?)
        }
        DevnetCommand::Commitments(a) => {
            let c = client(&a.url)?;
            match a.hotkey {
                None => show(&json!({"commitments": c.commitments()?})),
                Some(h) => show(&json!({"commitment": c.commitment(&Hotkey(h))?})),
            }
        }
        DevnetCommand::SetWeights(a) => {
            let c = client(&a.url)?;
            show(&c.set_weights(&Hotkey(a.hotkey), &a.uids, &a.values, a.version_key)?)
        }
        DevnetCommand::CommitWeights(a) => {
            let w = a.weights;
            let c = client(&w.url)?;
            let hotkey = Hotkey(w.hotkey);
            let hash = weights_commit_hash(
                &hotkey,
                c.netuid(),
                &w.uids,
                &w.values,
                &a.salt,
                w.version_key,
            );
            let info = c.commit_weights(&hotkey, hash)?;
            show(&json!({
                "hash": to_hex(&hash),
                "block": info.block,
                "commit_epoch": info.commit_epoch,
                "reveal_epoch": info.reveal_epoch,
            }))
        }
        DevnetCommand::RevealWeights(a) => {
            let w = a.weights;
            let c = client(&w.url)?;
            show(&c.reveal_weights(
                &Hotkey(w.hotkey),
                &w.uids,
                &w.values,
                &a.salt,
                w.version_key,
            )?)
        }
        DevnetCommand::Advance(a) => show(&client(&a.url)?.advance(a.blocks)?),
        DevnetCommand::Wait(a) => {
            let c = client(&a.url)?;
            show(&c.wait_for_block(a.block, Duration::from_secs(a.timeout_secs))?)
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut hyperparameters = Hyperparameters::default();
    if let Some(path) = &args.hyperparameters {
        let bytes = read_capped(path, 1 << 20)?;
        let changes: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        hyperparameters = hyperparameters
            .with_changes(&changes)
            .with_context(|| format!("invalid hyperparameters in {}", path.display()))?;
    }
    if let Some(tempo) = args.tempo {
        hyperparameters.tempo = tempo;
    }
    let config = DevnetConfig {
        chain_id: args.chain_id,
        netuid: NetUid(args.netuid),
        owner_hotkey: args.owner_hotkey.map(Hotkey),
        hyperparameters,
    };
    let devnet = match &args.state {
        None => Devnet::in_memory(&config)?,
        Some(path) => {
            let (devnet, created) = Devnet::open_or_create(path, &config)?;
            if !created {
                eprintln!(
                    "resuming the devnet in {} at block {} (genesis flags are ignored)",
                    path.display(),
                    devnet.block()?.number.0
                );
            }
            devnet
        }
    };
    let options = ServerOptions {
        block_interval: args.block_interval_ms.map(Duration::from_millis),
        ..ServerOptions::default()
    };
    let server = DevnetServer::start(Arc::new(devnet), args.port, options)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", server.local_addr())?;
    stdout.flush()?;
    drop(stdout);
    server.wait();
    Ok(ExitCode::SUCCESS)
}
