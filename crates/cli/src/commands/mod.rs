//! One module per subcommand.

pub mod augment;
pub mod demo;
pub mod devnet;
pub mod eval;
pub mod metrics;
pub mod miner;
pub mod model;
pub mod round;
pub mod setup;
pub mod sim;
pub mod validator;
pub mod weights;
pub mod yuma;

/// An error chain on one line, as every command reports failures.
pub fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace(['\n', '\r'], " ")
}

/// Prints a value as one line of JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

/// Reads a whole file, refusing it past `cap` bytes (checked before and
/// while reading, so devices and growing files cannot exhaust memory).
pub fn read_capped(path: &std::path::Path, cap: u64) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    use std::io::Read;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    anyhow::ensure!(
        bytes.len() as u64 <= cap,
        "{} is larger than {cap} bytes",
        path.display()
    );
    Ok(bytes)
}

/// The progress bar every long command shows on stderr (hidden when stderr
/// is not a terminal): `label [=====>    ] pos/len rate eta`.
pub fn progress_bar(len: u64, label: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len).with_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {pos}/{len} {per_sec} eta {eta}",
        )
        .expect("template is valid")
        .progress_chars("=> "),
    );
    bar.set_message(label.to_string());
    bar
}
