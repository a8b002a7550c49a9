//! `medmetric round build|verify`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};
use medmetric_bench::RoundConfig;
use medmetric_bench::manifest::verify;
use medmetric_bench::pools;
use medmetric_bench::round::{Anchor, build};
use medmetric_bench::seed::parse_block_hash;
use medmetric_bench::write::write;
use medmetric_imaging::pool::{Pool, ReadLimits};
use serde_json::json;

use super::{print_json, progress_bar, read_capped};

#[derive(Debug, Subcommand)]
pub enum RoundCommand {
    /// Build the benchmark round anchored at a block.
    ///
    /// The round is a pure function of (netuid, block number, block hash,
    /// pools, config): every validator with the same inputs writes the same
    /// bytes and the same digest, on any number of threads. Writes images/,
    /// masks/, probes/ and manifest.json into --out and prints one line of
    /// JSON with the digest.
    Build(BuildArgs),
    /// Recompute every file hash and the digest of a round folder.
    ///
    /// Exit 0 and {"ok":true,"digest"} when the folder is intact; exit 1 and
    /// {"ok":false,"reason"} otherwise. With --rebuild, also rebuild the
    /// round from the anchor and config recorded in its manifest and compare
    /// digests.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Block hash, 64 hex digits (0x prefix accepted).
    #[arg(long)]
    pub block: String,
    /// Block number.
    #[arg(long, default_value_t = 0)]
    pub number: u64,
    /// Subnet id.
    #[arg(long, default_value_t = 0)]
    pub netuid: u16,
    /// Pools to sample from (repeatable): phantom, phantom:MODALITY (cxr, brain, bone),
    /// folder:DIR, brats:DIR, rsna:DIR, chexpert:DIR.
    #[arg(long = "pool", default_value = "phantom")]
    pub pools: Vec<String>,
    /// Round config as JSON (defaults for every field left out).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Cases per modality (overrides the config).
    #[arg(long)]
    pub cases: Option<u32>,
    /// Image size 128, 256 or 512 (overrides the config).
    #[arg(long)]
    pub size: Option<u32>,
    /// Worker threads; changes only the speed.
    #[arg(long, default_value_t = default_threads())]
    pub threads: usize,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Round folder.
    pub dir: PathBuf,
    /// Rebuild from the manifest's anchor and config and compare digests.
    #[arg(long)]
    pub rebuild: bool,
    /// Pools for --rebuild (default: the ones named in the manifest).
    #[arg(long = "pool")]
    pub pools: Vec<String>,
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub fn run(cmd: RoundCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RoundCommand::Build(args) => build_cmd(args),
        RoundCommand::Verify(args) => verify_cmd(args),
    }
}

/// Opens every pool spec (`phantom`, `folder:DIR`, …).
pub fn open_pools(specs: &[String]) -> anyhow::Result<Vec<Box<dyn Pool>>> {
    let mut out = Vec::new();
    for spec in specs {
        out.extend(
            pools::open(spec, &ReadLimits::default())
                .map_err(|e| anyhow::anyhow!("pool {spec}: {e}"))?,
        );
    }
    Ok(out)
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<RoundConfig> {
    let Some(path) = path else {
        return Ok(RoundConfig::default());
    };
    let bytes = read_capped(path, 1 << 20)?;
    serde_json::from_slice(&bytes).with_context(|| format!("round config {}", path.display()))
}

struct Built {
    digest: String,
    items: usize,
    probes: usize,
    seconds: f64,
}

fn build_and_write(
    anchor: &Anchor,
    specs: &[String],
    config: &RoundConfig,
    threads: usize,
    out: &std::path::Path,
) -> anyhow::Result<Built> {
    let pools = open_pools(specs)?;
    let refs: Vec<&dyn Pool> = pools.iter().map(|p| p.as_ref()).collect();
    let total = config.cases_per_modality as u64 * config.modalities.len() as u64;
    let bar = progress_bar(total, "round");
    let started = Instant::now();
    let round = build(anchor, &refs, config, threads.max(1), &|| bar.inc(1))?;
    let digest = write(&round, out)?;
    bar.finish_and_clear();
    Ok(Built {
        digest,
        items: round.items.len(),
        probes: round.probes.iter().map(|p| p.variants.len()).sum(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn build_cmd(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let block_hash = parse_block_hash(&args.block).map_err(|e| anyhow::anyhow!("--block: {e}"))?;
    let mut config = load_config(args.config.as_ref())?;
    if let Some(n) = args.cases {
        config.cases_per_modality = n;
    }
    if let Some(s) = args.size {
        config.size = s;
    }
    let anchor = Anchor {
        netuid: medmetric_core::NetUid(args.netuid),
        block_number: medmetric_core::Block(args.number),
        block_hash,
    };
    let b = build_and_write(&anchor, &args.pools, &config, args.threads, &args.out)?;
    print_json(&json!({
        "digest": b.digest,
        "out": args.out,
        "seed": anchor.seed().to_hex(),
        "items": b.items,
        "probe_images": b.probes,
        "seconds": b.seconds,
        "images_per_second": (b.items + b.probes) as f64 / b.seconds.max(1e-9),
    }))?;
    Ok(ExitCode::SUCCESS)
}

fn verify_cmd(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let digest = match verify(&args.dir) {
        Ok(d) => d,
        Err(e) => {
            print_json(&json!({"ok": false, "reason": e.to_string()}))?;
            return Ok(ExitCode::FAILURE);
        }
    };
    if args.rebuild {
        let manifest: serde_json::Value =
            serde_json::from_slice(&read_capped(&args.dir.join("manifest.json"), 64 << 20)?)?;
        let anchor: Anchor =
            serde_json::from_value(manifest["anchor"].clone()).context("manifest anchor")?;
        let config: RoundConfig =
            serde_json::from_value(manifest["config"].clone()).context("manifest config")?;
        let specs: Vec<String> = if args.pools.is_empty() {
            manifest["pools"]
                .as_array()
                .context("manifest pools")?
                .iter()
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect()
        } else {
            args.pools.clone()
        };
        let scratch = tempfile::tempdir()?;
        let rebuilt = build_and_write(&anchor, &specs, &config, default_threads(), scratch.path())?;
        if rebuilt.digest != digest {
            print_json(&json!({
                "ok": false,
                "reason": format!("rebuilt round has digest {} instead of {digest}", rebuilt.digest),
            }))?;
            return Ok(ExitCode::FAILURE);
        }
    }
    print_json(&json!({"ok": true, "digest": digest}))?;
    Ok(ExitCode::SUCCESS)
}
