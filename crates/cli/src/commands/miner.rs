//! `medmetric miner publish|status`: put a model on the subnet, then watch
//! how it does.
//!
//! `publish` keeps the commit-before-publish order (docs/design.md#3-commitments-and-eligibility): the gate checks the file, the SHA-256
//! and Kubo's CIDv0 are computed locally, the commitment
//! `mm1:<modality>:<cid>` + `SHA-256(sha256 ‖ hotkey)` goes on chain, and
//! only then is the artifact published (the local content-addressed store,
//! and a Kubo node with `--ipfs-api`). Nobody can see the file before its
//! commitment has a block, so the earliest commitment of a model is its
//! original. The steps are [`medmetric_miner::publish`]; this module parses
//! arguments, connects and prints.
//!
//! Chains: `--chain devnet` (the server at `$MEDMETRIC_CHAIN`, else
//! [`medmetric_devnet::DEFAULT_DEVNET_URL`]) or the `http://HOST:PORT` of a
//! `medmetric devnet serve`. The real-chain backend is not in this build.
//!
//! Wallets follow Bittensor's layout (`~/.bittensor/wallets/<name>/…`), but
//! only public addresses are used: see
//! [`medmetric_miner::wallet::resolve_wallet`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, ensure};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use medmetric_chain::Chain;
use medmetric_core::Modality;
use medmetric_devnet::{DevnetClient, resolve_chain_spec};
use medmetric_miner::wallet::resolve_wallet;
use medmetric_miner::{pin_to_ipfs, publish, status};
use medmetric_model::gate::GateLimits;
use medmetric_store::{KuboRpc, LocalStore};
use serde_json::json;

use super::{print_json, read_capped};

/// The environment variable naming the devnet server `--chain devnet`
/// means.
pub use medmetric_devnet::CHAIN_ENV;
/// Blocks between a commitment and the first round seed block it may take
/// part in (`eval_delay`, docs/design.md#3-commitments-and-eligibility).
pub use medmetric_miner::DEFAULT_EVAL_DELAY;

#[derive(Debug, Subcommand)]
pub enum MinerCommand {
    /// Check, commit and publish a model.
    ///
    /// In this order: the gate checks the file (a refusal exits 1 with the
    /// gate's one-line reason, and nothing is committed); the SHA-256 and
    /// the IPFS CIDv0 are computed locally; the commitment
    /// `mm1:<modality>:<cid>` bound to the hotkey (docs/design.md#3-commitments-and-eligibility) is set on chain;
    /// then the file goes into the local content-addressed store (which
    /// devnet validators on this machine read) and, with `--ipfs-api`, to a
    /// Kubo node, pinned, whose CID must equal the committed one.
    ///
    /// The hotkey must be registered on the subnet. Publishing the same
    /// model again keeps the commitment already on chain and its block, so
    /// the eligibility clock does not restart; a new model restarts it.
    ///
    /// Prints what happened; with --json, one object with `hotkey`,
    /// `coldkey`, `uid`, `netuid`, `modality`, `sha256`, `cid`, `bytes`,
    /// `commit_block`, `already_committed`, `eval_delay`,
    /// `eligible_at_block`, `store` and `ipfs` (the pinned CID, or null).
    Publish(PublishArgs),
    /// Show a miner's registration, commitment, eligibility and standing.
    ///
    /// Reports the uid (or that the hotkey is not registered), the current
    /// commitment parsed as validators parse it (or why it does not parse),
    /// when the model becomes eligible for rounds (commit block + eval
    /// delay), whether the committed artifact is in the local store, and
    /// from the metagraph: incentive, emission at the last epoch, rank among
    /// miners by incentive (1 = best; miners are the uids that have set no
    /// weights) and how many validators have set weights.
    ///
    /// With --json, one object with `hotkey`, `coldkey`, `netuid`, `block`,
    /// `registered`, `uid`, `commitment` (`{modality, cid, block}`,
    /// `{block, error, kind}` when it does not parse, or null),
    /// `eval_delay`, `eligible`, `eligible_at_block`, `artifact`
    /// (`{sha256, binding_ok}` or null), `stake`, `incentive` (0 to 1),
    /// `incentive_u16`, `emission` (rao), `rank`, `miners`,
    /// `validators_setting_weights` and `validators_weighting` (those with a
    /// weight on this uid).
    ///
    /// Exit 0 when the chain answered, 1 with one line when it cannot be
    /// reached.
    Status(StatusArgs),
}

/// Bittensor-style wallet selection.
#[derive(Debug, Clone, Args)]
pub struct WalletArgs {
    /// Wallet (coldkey) name. Its `coldkeypub.txt`, if present, gives the
    /// coldkey's SS58 address; otherwise the name is the devnet coldkey.
    #[arg(
        id = "wallet.name",
        long = "wallet.name",
        value_name = "NAME",
        default_value = "default"
    )]
    pub name: String,
    /// Hotkey name. A keyfile `hotkeys/<HOTKEY>pub.txt` or
    /// `hotkeys/<HOTKEY>` in the wallet gives the SS58 address (only that
    /// field is read); otherwise the name is the devnet hotkey.
    #[arg(
        id = "wallet.hotkey",
        long = "wallet.hotkey",
        value_name = "HOTKEY",
        default_value = "default"
    )]
    pub hotkey: String,
    /// Folder of wallets [default: ~/.bittensor/wallets].
    #[arg(id = "wallet.path", long = "wallet.path", value_name = "DIR")]
    pub path: Option<PathBuf>,
}

/// Which chain to talk to.
#[derive(Debug, Clone, Args)]
pub struct ChainArgs {
    /// `devnet` (the server at $MEDMETRIC_CHAIN, else
    /// http://127.0.0.1:9944) or the http://HOST:PORT of a
    /// `medmetric devnet serve`. Real-chain endpoints (wss://…, finney,
    /// test) need the subtensor backend, which is not in this build.
    #[arg(long, value_name = "C", default_value = "devnet")]
    pub chain: String,
    /// Refuse to run unless the chain serves this subnet.
    #[arg(long, value_name = "N")]
    pub netuid: Option<u16>,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The ONNX model file.
    #[arg(long, value_name = "M.onnx")]
    pub model: PathBuf,
    /// What the model reads: chest X-ray, brain MRI or bone.
    #[arg(long, value_parser = modality_parser())]
    pub modality: Modality,
    #[command(flatten)]
    pub wallet: WalletArgs,
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Local content-addressed store [default: $MEDMETRIC_CACHE/store, else
    /// ~/.cache/medmetric/store].
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Also publish through this Kubo node's RPC API (http://HOST:PORT,
    /// HOST:PORT or /ip4/ADDR/tcp/PORT), pinned.
    #[arg(long, value_name = "ADDR")]
    pub ipfs_api: Option<String>,
    /// Blocks between the commitment and the first eligible round.
    #[arg(long, value_name = "B", default_value_t = DEFAULT_EVAL_DELAY)]
    pub eval_delay: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub wallet: WalletArgs,
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Local store to look for the committed artifact in (read only)
    /// [default: as for publish].
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Blocks between a commitment and the first eligible round.
    #[arg(long, value_name = "B", default_value_t = DEFAULT_EVAL_DELAY)]
    pub eval_delay: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `--modality`: the names of [`Modality::ALL`], listed in `--help`.
fn modality_parser() -> impl TypedValueParser<Value = Modality> {
    PossibleValuesParser::new(Modality::ALL.map(Modality::name))
        .try_map(|name| name.parse::<Modality>())
}

/// The devnet URL `--chain` names, given `$MEDMETRIC_CHAIN` in `env`.
fn chain_url(spec: &str, env: Option<&str>) -> anyhow::Result<String> {
    Ok(resolve_chain_spec(spec, env)?)
}

/// Connects to the chain `--chain` names (see [`ChainArgs`]), checking the
/// netuid when one is given.
pub fn connect(args: &ChainArgs) -> anyhow::Result<DevnetClient> {
    let env = std::env::var(CHAIN_ENV).ok();
    let url = chain_url(&args.chain, env.as_deref())?;
    let client = DevnetClient::connect(&url).map_err(|e| {
        anyhow!("cannot reach the devnet at {url} (is `medmetric devnet serve` running?): {e}")
    })?;
    if let Some(netuid) = args.netuid {
        ensure!(
            client.netuid().0 == netuid,
            "the chain at {url} serves subnet {}, not --netuid {netuid}",
            client.netuid().0
        );
    }
    Ok(client)
}

/// `--store`, else [`medmetric_store::default_dir`].
pub fn store_dir(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    match explicit {
        Some(dir) => Ok(dir.to_path_buf()),
        None => medmetric_store::default_dir()
            .context("no store folder: set MEDMETRIC_CACHE or HOME, or pass --store"),
    }
}

pub fn run(cmd: MinerCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        MinerCommand::Publish(args) => run_publish(args),
        MinerCommand::Status(args) => run_status(args),
    }
}

fn run_publish(args: PublishArgs) -> anyhow::Result<ExitCode> {
    // Everything that can be checked before the commitment is: a bad store
    // folder or IPFS address must not leave a commitment behind.
    let (coldkey, hotkey) = resolve_wallet(
        &args.wallet.name,
        &args.wallet.hotkey,
        args.wallet.path.as_deref(),
    )?;
    let kubo = args
        .ipfs_api
        .as_deref()
        .map(KuboRpc::new)
        .transpose()
        .context("--ipfs-api")?;
    let model = read_capped(&args.model, GateLimits::default().max_bytes)?;
    let dir = store_dir(args.store.as_deref())?;
    let store = LocalStore::open(&dir)
        .with_context(|| format!("cannot open the store {}", dir.display()))?;
    let chain = connect(&args.chain)?;

    let published = publish(&chain, &store, &model, args.modality, &hotkey)?;
    let eligible_at = published.eligible_at(args.eval_delay);
    let ipfs = kubo
        .map(|kubo| pin_to_ipfs(&kubo, &model, &published))
        .transpose()?;

    if args.json {
        print_json(&json!({
            "hotkey": published.hotkey,
            "coldkey": coldkey,
            "uid": published.uid,
            "netuid": published.netuid,
            "modality": published.modality,
            "sha256": published.sha256.to_string(),
            "cid": published.cid,
            "bytes": published.artifact.size,
            "commit_block": published.commit_block,
            "already_committed": published.already_committed,
            "eval_delay": args.eval_delay,
            "eligible_at_block": eligible_at,
            "store": store.root(),
            "ipfs": ipfs,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "model     {} ({} bytes), sha256 {}",
        args.model.display(),
        published.artifact.size,
        published.sha256
    );
    let verb = if published.already_committed {
        "already committed"
    } else {
        "committed"
    };
    println!(
        "commit    {verb} {}:{}:{} for hotkey {} (uid {} on subnet {}) at block {}",
        medmetric_store::commitment::PREFIX,
        published.modality,
        published.cid,
        published.hotkey,
        published.uid.0,
        published.netuid.0,
        published.commit_block
    );
    println!("store     {}", store.root().display());
    if let Some(cid) = ipfs {
        println!("ipfs      pinned as {cid}");
    }
    println!(
        "eligible  for rounds seeded at block {eligible_at} or later (eval delay {})",
        args.eval_delay
    );
    Ok(ExitCode::SUCCESS)
}

fn run_status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let (coldkey, hotkey) = resolve_wallet(
        &args.wallet.name,
        &args.wallet.hotkey,
        args.wallet.path.as_deref(),
    )?;
    let chain = connect(&args.chain)?;
    let status = status::read(&chain, &hotkey, args.eval_delay)?;
    let head = status.head;
    let uid = status.uid;
    let standing = status.standing;
    let validators = status.validators_setting_weights;
    let parsed = status.commitment.as_ref().map(|c| (c.block, &c.parsed));
    let valid = status.valid_commitment();
    let (eligible_at, eligible) = (status.eligible_at, status.eligible);

    // Read only: a store folder that does not exist is not created.
    let dir = store_dir(args.store.as_deref()).ok();
    let store = dir
        .filter(|d| d.join("blobs").is_dir())
        .and_then(|d| LocalStore::open(d).ok());
    let artifact = match (&store, valid) {
        (Some(store), Some((_, c))) => status::local_artifact(store, c, &hotkey),
        _ => None,
    };

    if args.json {
        let commitment = match &parsed {
            None => serde_json::Value::Null,
            Some((block, Ok(c))) => json!({
                "modality": c.modality(),
                "cid": c.cid(),
                "block": block,
            }),
            Some((block, Err(e))) => {
                json!({"block": block, "error": e.to_string(), "kind": e.kind()})
            }
        };
        print_json(&json!({
            "hotkey": hotkey,
            "coldkey": coldkey,
            "netuid": chain.netuid(),
            "block": head,
            "registered": uid.is_some(),
            "uid": uid,
            "commitment": commitment,
            "eval_delay": args.eval_delay,
            "eligible": eligible,
            "eligible_at_block": eligible_at,
            "artifact": artifact.map(|(sha, binding_ok)| json!({
                "sha256": sha.to_string(),
                "binding_ok": binding_ok,
            })),
            "stake": standing.as_ref().map(|s| s.stake),
            "incentive": standing.as_ref().map(|s| s.incentive_share()),
            "incentive_u16": standing.as_ref().map(|s| s.incentive),
            "emission": standing.as_ref().map(|s| s.emission),
            "rank": standing.as_ref().map(|s| s.rank),
            "miners": standing.as_ref().map(|s| s.miners),
            "validators_setting_weights": validators,
            "validators_weighting": standing.as_ref().map(|s| s.weighted_by),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }

    println!(
        "hotkey      {hotkey} (coldkey {coldkey}) on subnet {} at block {head}",
        chain.netuid().0
    );
    match uid {
        Some(uid) => println!("uid         {}", uid.0),
        None => println!("uid         not registered"),
    }
    match &parsed {
        None => println!("commitment  none (run `medmetric miner publish`)"),
        Some((block, Ok(c))) => println!(
            "commitment  {c} set at block {block} (modality {}, CID {})",
            c.modality(),
            c.cid()
        ),
        Some((block, Err(e))) => {
            println!("commitment  set at block {block} does not parse, validators skip it: {e}")
        }
    }
    match eligible_at {
        None => println!("eligible    no: no valid commitment"),
        Some(at) if eligible => println!("eligible    now (eligible at block {at})"),
        Some(at) => println!(
            "eligible    not yet: eligible at block {at} ({} blocks from now)",
            at - head
        ),
    }
    match (&store, valid, artifact) {
        (_, None, _) => {}
        (None, Some(_), _) => println!("artifact    no local store to look in"),
        (Some(store), Some(_), None) => println!(
            "artifact    not in the local store {}",
            store.root().display()
        ),
        (Some(store), Some(_), Some((sha, ok))) => println!(
            "artifact    in {} with sha256 {sha}; {}",
            store.root().display(),
            if ok {
                "the commitment binds it to this hotkey"
            } else {
                "the commitment does NOT bind it to this hotkey"
            }
        ),
    }
    if let Some(s) = &standing {
        println!(
            "incentive   {:.6} (u16 {}), emission {} rao at the last epoch, stake {} rao",
            s.incentive_share(),
            s.incentive,
            s.emission,
            s.stake
        );
        println!("rank        {} of {} miners by incentive", s.rank, s.miners);
        println!(
            "validators  {validators} have set weights, {} of them on this uid",
            s.weighted_by
        );
    } else {
        println!("validators  {validators} have set weights");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use medmetric_devnet::DEFAULT_DEVNET_URL;

    use super::*;

    #[test]
    fn chain_specs() {
        assert_eq!(chain_url("devnet", None).unwrap(), DEFAULT_DEVNET_URL);
        assert_eq!(
            chain_url("devnet", Some("http://127.0.0.1:5000")).unwrap(),
            "http://127.0.0.1:5000"
        );
        assert_eq!(chain_url("devnet", Some("")).unwrap(), DEFAULT_DEVNET_URL);
        assert_eq!(
            chain_url("http://10.0.0.2:9944", None).unwrap(),
            "http://10.0.0.2:9944"
        );
        assert_eq!(
            chain_url("127.0.0.1:9955", None).unwrap(),
            "http://127.0.0.1:9955"
        );
        for real in [
            "wss://entrypoint-finney.opentensor.ai:443",
            "ws://x:9944",
            "finney",
        ] {
            let err = chain_url(real, None).unwrap_err().to_string();
            assert!(err.contains("real-chain"), "{err}");
            assert!(!err.contains('\n'));
        }
        let err = chain_url("devnet", Some("wss://x"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("real-chain"), "{err}");
        assert!(chain_url("nonsense", None).is_err());
    }
}
