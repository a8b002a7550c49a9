//! Bittensor wallets, public addresses only.
//!
//! A wallet folder is laid out as Bittensor's tools write it:
//!
//! ```text
//! <wallets>/<name>/coldkey                 encrypted: never opened
//! <wallets>/<name>/coldkeypub.txt          {"ss58Address": …, …}
//! <wallets>/<name>/hotkeys/<hotkey>        keyfile (holds the secret seed)
//! <wallets>/<name>/hotkeys/<hotkey>pub.txt {"ss58Address": …, …}
//! ```
//!
//! [`resolve_wallet`] turns a wallet and hotkey name into the keys the chain
//! knows; on the devnet, where there are no key files, the names are the
//! keys.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use medmetric_chain::{Coldkey, MAX_KEY_LEN, Rejection, check_key};
use medmetric_core::Hotkey;
use medmetric_core::limits::{ReadError, read_capped};
use serde::Deserialize;

/// Largest wallet key file read, in bytes (a Bittensor keyfile is < 1 KiB).
pub const MAX_KEYFILE_BYTES: u64 = 16 << 10;

/// Why [`resolve_wallet`] refused. Messages are one line; the underlying
/// error, when there is one, is the [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// A wallet or hotkey name the chain would refuse as a key.
    #[error(transparent)]
    InvalidName(#[from] Rejection),
    /// `.` or `..`, which would name another folder.
    #[error("{kind} {value:?} is not a usable name")]
    UnusableName {
        /// `wallet name` or `wallet hotkey`.
        kind: &'static str,
        /// The name.
        value: String,
    },
    /// A key file that exists but cannot be read.
    #[error("cannot read key file {}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A key file path that is a folder or a device.
    #[error("key file {} is not a file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// A key file larger than [`MAX_KEYFILE_BYTES`].
    #[error("key file {} is larger than {cap} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap.
        cap: u64,
    },
    /// A key file that does not give a public address. It is not replaced
    /// by the name: that would act as another key.
    #[error("key file {}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: KeyFileError,
    },
}

/// What is wrong with a key file's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    /// Encrypted (starts with `$`): the address is not readable without
    /// the password, which MedMetric never asks for.
    #[error(
        "is encrypted; MedMetric reads only public addresses \
         (create the unencrypted <hotkey>pub.txt beside it)"
    )]
    Encrypted,
    /// Not JSON with an `ss58Address` string.
    #[error("is not a Bittensor keyfile (JSON with ss58Address)")]
    NotKeyfile,
    /// The `ss58Address` fails [`is_ss58_address`].
    #[error("its ss58Address is not an SS58 address")]
    NotSs58,
}

/// The coldkey and hotkey a wallet stands for on chain.
///
/// `wallets` is the folder of wallets (`None`: `~/.bittensor/wallets`; a
/// leading `~/` is expanded). Only public material is used:
///
/// * hotkey: the `ss58Address` of `<wallets>/<name>/hotkeys/<hotkey>pub.txt`,
///   else of the keyfile `<wallets>/<name>/hotkeys/<hotkey>` (read under
///   [`MAX_KEYFILE_BYTES`]; only that one field is parsed, and the buffer is
///   wiped), else — no such files, as on the devnet — the hotkey name
///   itself;
/// * coldkey: the `ss58Address` of `<wallets>/<name>/coldkeypub.txt`, else
///   the wallet name. The encrypted `coldkey` file is never opened.
///
/// Both names must be valid chain keys (they may be the keys) and neither
/// may be `.` or `..`. A key file that exists but is encrypted or malformed
/// is an error rather than a silent fall-back to the name, which would act
/// as another key. Without `HOME` and without `wallets`, the names are the
/// keys.
pub fn resolve_wallet(
    name: &str,
    hotkey: &str,
    wallets: Option<&Path>,
) -> Result<(Coldkey, Hotkey), WalletError> {
    for (kind, value) in [("wallet name", name), ("wallet hotkey", hotkey)] {
        check_key(kind, value)?;
        if value == "." || value == ".." {
            return Err(WalletError::UnusableName {
                kind,
                value: value.to_string(),
            });
        }
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
fn ss58_from_file(path: &Path) -> Result<Option<String>, WalletError> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(WalletError::Unreadable {
                path: path.to_path_buf(),
                source,
            });
        }
        Ok(meta) if !meta.is_file() => {
            return Err(WalletError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        Ok(_) => {}
    }
    let mut bytes = read_capped(path, MAX_KEYFILE_BYTES).map_err(|e| match e {
        ReadError::Io { source, .. } => WalletError::Unreadable {
            path: path.to_path_buf(),
            source,
        },
        ReadError::TooLarge { cap, .. } => WalletError::TooLarge {
            path: path.to_path_buf(),
            cap,
        },
    })?;
    let address = keyfile_address(&bytes);
    // A hotkey file also holds the secret seed: do not leave it in memory.
    bytes.fill(0);
    std::hint::black_box(&bytes);
    address.map(Some).map_err(|source| WalletError::KeyFile {
        path: path.to_path_buf(),
        source,
    })
}

/// The public `ss58Address` of a Bittensor key file's contents (a keyfile
/// or a `…pub.txt`), checked with [`is_ss58_address`]. No other field is
/// parsed into memory, so a keyfile's secrets are not kept.
pub fn keyfile_address(bytes: &[u8]) -> Result<String, KeyFileError> {
    #[derive(Deserialize)]
    struct Public {
        #[serde(rename = "ss58Address")]
        ss58_address: String,
    }
    if bytes.starts_with(b"$") {
        return Err(KeyFileError::Encrypted);
    }
    let public: Public = serde_json::from_slice(bytes).map_err(|_| KeyFileError::NotKeyfile)?;
    if !is_ss58_address(&public.ss58_address) {
        return Err(KeyFileError::NotSs58);
    }
    Ok(public.ss58_address)
}

/// Whether `address` looks like an SS58 address: 40 to
/// [`MAX_KEY_LEN`] base58 characters (no `0`, `O`, `I` or `l`). The
/// checksum is not verified; this keeps paths, URLs and other junk from
/// standing in for a key.
pub fn is_ss58_address(address: &str) -> bool {
    let base58 = |c: char| c.is_ascii_alphanumeric() && !matches!(c, '0' | 'O' | 'I' | 'l');
    (40..=MAX_KEY_LEN).contains(&address.len()) && address.chars().all(base58)
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

    /// The error as the CLI prints it: the message, then each cause.
    fn chain(err: &dyn std::error::Error) -> String {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(e) = source {
            text = format!("{text}: {e}");
            source = e.source();
        }
        text
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
        assert!(chain(&err).contains("encrypted"), "{}", chain(&err));

        write(&hotkeys.join("junk"), "not json at all");
        let err = resolve_wallet("w", "junk", Some(dir.path())).unwrap_err();
        assert!(
            chain(&err).contains("not a Bittensor keyfile"),
            "{}",
            chain(&err)
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
        assert!(chain(&err).contains("larger than"), "{}", chain(&err));

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
    fn ss58_checks() {
        assert!(is_ss58_address(ALICE));
        for bad in [
            "",
            "short",
            "../../etc/passwd/../../etc/passwd/../../etc/passwd",
            &ALICE.replace('G', "0"),
            &ALICE.replace('G', "l"),
            &"5".repeat(MAX_KEY_LEN + 1),
        ] {
            assert!(!is_ss58_address(bad), "{bad}");
        }
        assert_eq!(keyfile_address(b"$NACL"), Err(KeyFileError::Encrypted));
        assert_eq!(keyfile_address(b"{}"), Err(KeyFileError::NotKeyfile));
        assert_eq!(
            keyfile_address(br#"{"ss58Address":"x"}"#),
            Err(KeyFileError::NotSs58)
        );
    }
}
