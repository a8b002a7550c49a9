//! `medmetric miner publish|status`: put a model on the subnet, then watch
//! how it does.
//!
//! `publish` keeps SPEC §3's order: the gate checks the file, the SHA-256
//! and Kubo's CIDv0 are computed locally, the commitment
//! `mm1:<modality>:<cid>` + `SHA-256(sha256 ‖ hotkey)` goes on chain, and
//! only then is the artifact published (the local content-addressed store,
//! and a Kubo node with `--ipfs-api`). Nobody can see the file before its
//! commitment has a block, so the earliest commitment of a model is its
//! original. [`publish`] is the same steps as a library call, for the demo.
//!
//! Chains: `--chain devnet` (the server at `$MEDMETRIC_CHAIN`, else
//! [`DEFAULT_DEVNET_URL`]) or the `http://HOST:PORT` of a
//! `medmetric devnet serve`. The real-chain backend is not in this build.
//!
//! Wallets follow Bittensor's layout (`~/.bittensor/wallets/<name>/…`), but
//! only public addresses are used: see [`resolve_wallet`].

use std::io::ErrorKind;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail, ensure};
use clap::builder::PossibleValuesParser;
use clap::{Args, Subcommand};
use medmetric_chain::{Chain, Coldkey, DevnetClient, Metagraph, SparseRows, check_key};
use medmetric_core::{Hotkey, ModelDigest, NetUid, Uid};
use medmetric_model::gate::{self, GateError, GateLimits};
use medmetric_store::cid::{Cid, Version};
use medmetric_store::commitment::{Commitment, MODALITIES};
use medmetric_store::{ArtifactRef, KuboRpc, LocalStore};
use serde::Deserialize;
use serde_json::json;

use super::{print_json, read_capped};

/// Blocks between a commitment and the first round seed block it may take
/// part in (SPEC §3's `eval_delay`).
pub const DEFAULT_EVAL_DELAY: u64 = 100;
/// Where `--chain devnet` looks when `$MEDMETRIC_CHAIN` is not set.
pub const DEFAULT_DEVNET_URL: &str = "http://127.0.0.1:9944";
/// Environment variable naming the devnet server `--chain devnet` means.
pub const CHAIN_ENV: &str = "MEDMETRIC_CHAIN";
/// Largest wallet key file read, in bytes (a Bittensor keyfile is < 1 KiB).
const MAX_KEYFILE_BYTES: u64 = 16 << 10;
/// Network names of the real chain, refused with the same message as URLs.
const REAL_NETWORKS: [&str; 4] = ["finney", "test", "local", "archive"];

#[derive(Debug, Subcommand)]
pub enum MinerCommand {
    /// Check, commit and publish a model.
    ///
    /// In this order: the gate checks the file (a refusal exits 1 with the
    /// gate's one-line reason, and nothing is committed); the SHA-256 and
    /// the IPFS CIDv0 are computed locally; the commitment
    /// `mm1:<modality>:<cid>` bound to the hotkey (SPEC §3) is set on chain;
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
    #[arg(long, value_parser = PossibleValuesParser::new(MODALITIES))]
    pub modality: String,
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

/// What [`publish`] did.
#[derive(Debug, Clone)]
pub struct Published {
    /// The committing hotkey.
    pub hotkey: Hotkey,
    /// Its uid on the subnet.
    pub uid: Uid,
    /// The subnet.
    pub netuid: NetUid,
    /// `cxr`, `brain` or `bone`.
    pub modality: String,
    /// SHA-256 of the model: its identity.
    pub sha256: ModelDigest,
    /// The CIDv0 committed to (Kubo's for the same bytes).
    pub cid: Cid,
    /// Block of the commitment on chain.
    pub commit_block: u64,
    /// Whether an identical commitment was already on chain and was kept
    /// (its block is `commit_block`).
    pub already_committed: bool,
    /// What the local store holds.
    pub artifact: ArtifactRef,
}

/// Gate-checks `model`, commits it for `hotkey` on `chain` (SPEC §3), then
/// stores it in `store`.
///
/// The hotkey must be registered. When the chain already holds exactly
/// this commitment for the hotkey, it is kept rather than set again, so
/// republishing does not reset the commitment's block.
pub fn publish(
    chain: &dyn Chain,
    store: &LocalStore,
    model: &[u8],
    modality: &str,
    hotkey: &Hotkey,
) -> anyhow::Result<Published> {
    gate_check(model)?;
    let sha256 = ModelDigest::of(model);
    let cid = Cid::of(model, Version::V0);
    let commitment = Commitment::new(modality, cid, &sha256, hotkey)?;
    let fields = commitment.to_chain_fields();

    let netuid = chain.netuid();
    let metagraph = chain.metagraph().context("cannot read the metagraph")?;
    let uid = uid_of(&metagraph, hotkey).ok_or_else(|| {
        anyhow!(
            "hotkey {hotkey} is not registered on subnet {}: register it first \
             (on a devnet: medmetric devnet register --url URL --hotkey {hotkey} --coldkey COLDKEY)",
            netuid.0
        )
    })?;

    let current = chain
        .commitment(hotkey)
        .context("cannot read the current commitment")?;
    let (commit_block, already_committed) = match current {
        Some(c) if c.fields == fields => (c.block.0, true),
        _ => {
            let block = chain
                .set_commitment(hotkey, &fields)
                .with_context(|| format!("cannot set the commitment {commitment}"))?;
            (block.number.0, false)
        }
    };

    // Only now, with the commitment in a block, does the file become
    // available.
    let artifact = store.put(model).with_context(|| {
        format!(
            "committed at block {commit_block}, but storing the artifact in {} failed",
            store.root().display()
        )
    })?;
    ensure!(
        artifact.sha256 == sha256 && artifact.cid_v0 == cid,
        "the store recorded {} / {} for an artifact with SHA-256 {sha256} and CID {cid}",
        artifact.sha256,
        artifact.cid_v0
    );
    Ok(Published {
        hotkey: hotkey.clone(),
        uid,
        netuid,
        modality: modality.to_string(),
        sha256,
        cid,
        commit_block,
        already_committed,
        artifact,
    })
}

/// The contract check, refusing with the gate's one-line reason.
fn gate_check(model: &[u8]) -> anyhow::Result<()> {
    // The gate is written not to panic; this keeps a bug from turning into
    // anything but a refusal.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        gate::check_bytes(model, &GateLimits::default())
    }))
    .unwrap_or_else(|_| {
        Err(GateError::Contract(
            "internal error while checking the model".into(),
        ))
    });
    match outcome {
        Ok(_) => Ok(()),
        Err(reason) => bail!("model refused by the gate: {reason}"),
    }
}

fn uid_of(metagraph: &Metagraph, hotkey: &Hotkey) -> Option<Uid> {
    metagraph
        .neurons
        .iter()
        .find(|n| &n.hotkey == hotkey)
        .map(|n| n.uid)
}

/// The coldkey and hotkey a wallet stands for on chain.
///
/// `wallets` is the folder of wallets (`None`: `~/.bittensor/wallets`; a
/// leading `~/` is expanded). Only public material is used:
///
/// * hotkey: the `ss58Address` of `<wallets>/<name>/hotkeys/<hotkey>pub.txt`,
///   else of the keyfile `<wallets>/<name>/hotkeys/<hotkey>` (read under a
///   size cap; only that one field is parsed, and the buffer is wiped),
///   else — no such files, as on the devnet — the hotkey name itself;
/// * coldkey: the `ss58Address` of `<wallets>/<name>/coldkeypub.txt`, else
///   the wallet name. The encrypted `coldkey` file is never opened.
///
/// A key file that exists but is encrypted or malformed is an error rather
/// than a silent fall-back to the name, which would act as another key.
pub fn resolve_wallet(
    name: &str,
    hotkey: &str,
    wallets: Option<&Path>,
) -> anyhow::Result<(Coldkey, Hotkey)> {
    for (kind, value) in [("wallet name", name), ("wallet hotkey", hotkey)] {
        check_key(kind, value).map_err(|e| anyhow!("{e}"))?;
        ensure!(
            value != "." && value != "..",
            "{kind} {value:?} is not a usable name"
        );
    }
    let Some(root) = wallets_root(wallets) else {
        return Ok((Coldkey(name.to_string()), Hotkey(hotkey.to_string())));
    };
    let wallet = root.join(name);
    let hotkeys = wallet.join("hotkeys");
    let hot = match ss58_from_file(&hotkeys.join(format!("{hotkey}pub.txt")))? {
        Some(address) => address,
        None => ss58_from_file(&hotkeys.join(hotkey))?.unwrap_or_else(|| hotkey.to_string()),
    };
    let cold = ss58_from_file(&wallet.join("coldkeypub.txt"))?.unwrap_or_else(|| name.to_string());
    Ok((Coldkey(cold), Hotkey(hot)))
}

fn wallets_root(wallets: Option<&Path>) -> Option<PathBuf> {
    let home = || {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
    };
    match wallets {
        None => home().map(|h| h.join(".bittensor").join("wallets")),
        Some(p) => match p.strip_prefix("~") {
            Ok(rest) => home().map(|h| h.join(rest)),
            Err(_) => Some(p.to_path_buf()),
        },
    }
}

/// The `ss58Address` of a Bittensor key file, `None` when there is no file.
fn ss58_from_file(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => bail!("cannot read key file {}: {e}", path.display()),
        Ok(meta) => ensure!(meta.is_file(), "key file {} is not a file", path.display()),
    }
    let mut bytes = read_capped(path, MAX_KEYFILE_BYTES)?;
    let address = ss58_address(&bytes);
    // A hotkey file also holds the secret seed: do not leave it in memory.
    bytes.fill(0);
    std::hint::black_box(&bytes);
    address
        .map(Some)
        .map_err(|why| anyhow!("key file {}: {why}", path.display()))
}

fn ss58_address(bytes: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Public {
        #[serde(rename = "ss58Address")]
        ss58_address: String,
    }
    if bytes.starts_with(b"$") {
        return Err("is encrypted; MedMetric reads only public addresses \
                    (create the unencrypted <hotkey>pub.txt beside it)"
            .into());
    }
    let public: Public = serde_json::from_slice(bytes)
        .map_err(|_| "is not a Bittensor keyfile (JSON with ss58Address)".to_string())?;
    let address = public.ss58_address;
    let base58 = |c: char| c.is_ascii_alphanumeric() && !matches!(c, '0' | 'O' | 'I' | 'l');
    if !(40..=medmetric_chain::MAX_KEY_LEN).contains(&address.len()) || !address.chars().all(base58)
    {
        return Err("its ss58Address is not an SS58 address".into());
    }
    Ok(address)
}

/// The devnet URL `--chain` names, given `$MEDMETRIC_CHAIN` in `env`.
fn chain_url(spec: &str, env: Option<&str>) -> anyhow::Result<String> {
    let spec = spec.trim();
    let resolved = match spec {
        "devnet" => env
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .unwrap_or(DEFAULT_DEVNET_URL),
        other => other,
    };
    let real_chain = || {
        anyhow!(
            "--chain {spec}: the real-chain (subtensor) backend is not in this build; \
             use --chain devnet or the http://HOST:PORT of a `medmetric devnet serve`"
        )
    };
    match resolved.split_once("://") {
        Some(("http", _)) => Ok(resolved.to_string()),
        Some(_) => Err(real_chain()),
        None if REAL_NETWORKS.contains(&resolved) => Err(real_chain()),
        None if resolved.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
        }) =>
        {
            Ok(format!("http://{resolved}"))
        }
        None => bail!(
            "--chain {spec:?}: expected devnet or http://HOST:PORT of a `medmetric devnet serve`"
        ),
    }
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

fn store_dir(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    match explicit {
        Some(dir) => Ok(dir.to_path_buf()),
        None => medmetric_eval::ort::cache_dir()
            .map(|c| c.join("store"))
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

    let published = publish(&chain, &store, &model, &args.modality, &hotkey)?;
    let eligible_at = published.commit_block.saturating_add(args.eval_delay);
    let ipfs = match &kubo {
        None => None,
        Some(kubo) => {
            let got = kubo.add(&model, true).with_context(|| {
                format!(
                    "committed at block {} and stored locally, but publishing to IPFS failed \
                     (run the same command again: the commitment is kept)",
                    published.commit_block
                )
            })?;
            ensure!(
                got == published.cid,
                "the IPFS node stored the artifact as {got}, but the commitment names {}",
                published.cid
            );
            Some(got)
        }
    };

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

/// A miner's standing in the metagraph.
struct Standing {
    incentive: u16,
    emission: u64,
    stake: u64,
    rank: usize,
    miners: usize,
    weighted_by: usize,
}

/// Miners are the uids that have set no weights (plus `uid` itself); rank 1
/// is the highest incentive, ties share a rank.
fn standing(metagraph: &Metagraph, weights: &SparseRows, uid: Uid) -> Option<Standing> {
    let me = metagraph.neurons.iter().find(|n| n.uid == uid)?;
    let sets_weights = |u: Uid| {
        weights
            .get(usize::from(u.0))
            .is_some_and(|row| !row.is_empty())
    };
    let miners: Vec<_> = metagraph
        .neurons
        .iter()
        .filter(|n| n.uid == uid || !sets_weights(n.uid))
        .collect();
    let rank = 1 + miners.iter().filter(|n| n.incentive > me.incentive).count();
    let weighted_by = weights
        .iter()
        .filter(|row| row.iter().any(|&(to, w)| to == uid.0 && w > 0))
        .count();
    Some(Standing {
        incentive: me.incentive,
        emission: me.emission,
        stake: me.stake,
        rank,
        miners: miners.len(),
        weighted_by,
    })
}

fn run_status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let (coldkey, hotkey) = resolve_wallet(
        &args.wallet.name,
        &args.wallet.hotkey,
        args.wallet.path.as_deref(),
    )?;
    let chain = connect(&args.chain)?;
    let head = chain
        .block()
        .context("cannot read the head block")?
        .number
        .0;
    let metagraph = chain.metagraph().context("cannot read the metagraph")?;
    let weights = chain.weights().context("cannot read the weights")?;
    let onchain = chain
        .commitment(&hotkey)
        .context("cannot read the commitment")?;
    let uid = uid_of(&metagraph, &hotkey);
    let standing = uid.and_then(|u| standing(&metagraph, &weights, u));
    let validators = weights.iter().filter(|row| !row.is_empty()).count();

    let parsed = onchain
        .as_ref()
        .map(|c| (c.block.0, Commitment::try_from(c)));
    let valid = match &parsed {
        Some((block, Ok(c))) => Some((*block, c)),
        _ => None,
    };
    let eligible_at = valid.map(|(block, _)| block.saturating_add(args.eval_delay));
    let eligible = eligible_at.is_some_and(|at| head >= at);

    // Read only: a store folder that does not exist is not created.
    let dir = store_dir(args.store.as_deref()).ok();
    let store = dir
        .filter(|d| d.join("blobs").is_dir())
        .and_then(|d| LocalStore::open(d).ok());
    let artifact = match (&store, valid) {
        (Some(store), Some((_, c))) => store
            .lookup_cid(c.cid())
            .ok()
            .flatten()
            .filter(|sha| store.contains(&sha.to_string()))
            .map(|sha| (sha, c.verify_binding(&sha, &hotkey))),
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
            "incentive": standing.as_ref().map(|s| f64::from(s.incentive) / f64::from(u16::MAX)),
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
            f64::from(s.incentive) / f64::from(u16::MAX),
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
    use super::*;

    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn names_stand_for_themselves_without_key_files() {
        let dir = tempfile::tempdir().unwrap();
        let (cold, hot) = resolve_wallet("owner", "miner-1", Some(dir.path())).unwrap();
        assert_eq!(cold, Coldkey("owner".into()));
        assert_eq!(hot, Hotkey("miner-1".into()));
    }

    #[test]
    fn keyfiles_give_ss58_addresses_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let wallet = dir.path().join("w1");
        // The shape bittensor-wallet writes for an unencrypted hotkey.
        write(
            &wallet.join("hotkeys").join("h1"),
            &format!(
                r#"{{"accountId":"0xd435","publicKey":"0xd435","privateKey":"0xSECRET",
                "secretPhrase":"never printed","secretSeed":"0xSEED","ss58Address":"{ALICE}"}}"#
            ),
        );
        write(
            &wallet.join("coldkeypub.txt"),
            &format!(r#"{{"accountId":"0x8eaf","publicKey":"0x8eaf","ss58Address":"{BOB}"}}"#),
        );
        let (cold, hot) = resolve_wallet("w1", "h1", Some(dir.path())).unwrap();
        assert_eq!(hot, Hotkey(ALICE.into()));
        assert_eq!(cold, Coldkey(BOB.into()));

        // The public-only file wins over the keyfile.
        write(
            &wallet.join("hotkeys").join("h1pub.txt"),
            &format!(r#"{{"ss58Address":"{BOB}"}}"#),
        );
        let (_, hot) = resolve_wallet("w1", "h1", Some(dir.path())).unwrap();
        assert_eq!(hot, Hotkey(BOB.into()));

        // Another hotkey of the same wallet without files is its name.
        let (_, hot) = resolve_wallet("w1", "h2", Some(dir.path())).unwrap();
        assert_eq!(hot, Hotkey("h2".into()));
    }

    #[test]
    fn unusable_key_files_and_names_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let hotkeys = dir.path().join("w").join("hotkeys");
        write(&hotkeys.join("enc"), "$NACL\x01\x02 ciphertext");
        let err = resolve_wallet("w", "enc", Some(dir.path())).unwrap_err();
        assert!(format!("{err:#}").contains("encrypted"), "{err:#}");

        write(&hotkeys.join("junk"), "not json at all");
        let err = resolve_wallet("w", "junk", Some(dir.path())).unwrap_err();
        assert!(
            format!("{err:#}").contains("not a Bittensor keyfile"),
            "{err:#}"
        );

        write(
            &hotkeys.join("bad"),
            r#"{"ss58Address":"../../etc/passwd"}"#,
        );
        assert!(resolve_wallet("w", "bad", Some(dir.path())).is_err());

        let big = format!(
            r#"{{"ss58Address":"{ALICE}","pad":"{}"}}"#,
            "x".repeat(20_000)
        );
        write(&hotkeys.join("big"), &big);
        let err = resolve_wallet("w", "big", Some(dir.path())).unwrap_err();
        assert!(format!("{err:#}").contains("larger than"), "{err:#}");

        std::fs::create_dir_all(hotkeys.join("dir")).unwrap();
        assert!(resolve_wallet("w", "dir", Some(dir.path())).is_err());

        for (name, hotkey) in [
            ("..", "h"),
            ("w", ".."),
            ("a/b", "h"),
            ("w", "x/y"),
            ("", "h"),
        ] {
            assert!(
                resolve_wallet(name, hotkey, Some(dir.path())).is_err(),
                "{name:?} {hotkey:?}"
            );
        }
    }

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

    fn neuron(uid: u16, incentive: u16) -> medmetric_chain::NeuronInfo {
        medmetric_chain::NeuronInfo {
            uid: Uid(uid),
            hotkey: Hotkey(format!("h{uid}")),
            coldkey: Coldkey("c".into()),
            stake: 0,
            validator_permit: false,
            last_update: medmetric_core::Block(0),
            block_at_registration: medmetric_core::Block(0),
            active: true,
            immune: false,
            stake_weight: 0,
            consensus: 0,
            incentive,
            dividends: 0,
            validator_trust: 0,
            emission: u64::from(incentive) * 10,
        }
    }

    #[test]
    fn rank_counts_only_miners_and_shares_ties() {
        let metagraph = Metagraph {
            netuid: NetUid(1),
            block: medmetric_core::Block(10),
            neurons: vec![
                neuron(0, 0),
                neuron(1, 30_000),
                neuron(2, 20_000),
                neuron(3, 20_000),
                neuron(4, 100),
            ],
        };
        // uid 0 is a validator weighting 1 and 2.
        let weights: SparseRows = vec![vec![(1, 65_535), (2, 40_000)], vec![], vec![], vec![]];
        let s = standing(&metagraph, &weights, Uid(3)).unwrap();
        assert_eq!((s.rank, s.miners, s.weighted_by), (2, 4, 0));
        let s = standing(&metagraph, &weights, Uid(2)).unwrap();
        assert_eq!((s.rank, s.weighted_by, s.emission), (2, 1, 200_000));
        let s = standing(&metagraph, &weights, Uid(1)).unwrap();
        assert_eq!(s.rank, 1);
        let s = standing(&metagraph, &weights, Uid(4)).unwrap();
        assert_eq!(s.rank, 4);
        assert!(standing(&metagraph, &weights, Uid(9)).is_none());
    }
}
