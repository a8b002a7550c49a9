//! What `--chain` may name, and which devnet server that is.

/// Where `--chain devnet` looks when `$MEDMETRIC_CHAIN` is not set.
pub const DEFAULT_DEVNET_URL: &str = "http://127.0.0.1:9944";

/// The environment variable naming the devnet server `--chain devnet` means.
pub const CHAIN_ENV: &str = "MEDMETRIC_CHAIN";

/// Names of Bittensor's own networks, which need the subtensor backend.
const SUBTENSOR_NETWORKS: [&str; 4] = ["finney", "test", "local", "archive"];

/// Why a `--chain` value names no devnet this build can talk to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainSpecError {
    /// A subtensor endpoint (`ws://`, `wss://`) or network name (`finney`,
    /// `test`, `local`, `archive`).
    #[error(
        "--chain {spec}: the real-chain (subtensor) backend is not in this build; \
         use --chain devnet or the http://HOST:PORT of a `medmetric devnet serve`"
    )]
    SubtensorNotBuilt {
        /// What `--chain` said (or `$MEDMETRIC_CHAIN`, for `devnet`).
        spec: String,
    },
    /// Anything else that is not `devnet`, `http://HOST:PORT` or
    /// `HOST:PORT`.
    #[error(
        "--chain {spec:?}: expected devnet or the http://HOST:PORT of a `medmetric devnet serve`"
    )]
    Unrecognised {
        /// What `--chain` said (or `$MEDMETRIC_CHAIN`, for `devnet`).
        spec: String,
    },
}

/// The devnet URL a `--chain` value names, given the value of
/// `$MEDMETRIC_CHAIN` ([`CHAIN_ENV`]) in `env`:
///
/// * `devnet` means `env` when it is set and not blank, else
///   [`DEFAULT_DEVNET_URL`]; what it names then follows the rules below;
/// * `http://HOST:PORT` is that server, as given;
/// * `HOST:PORT` is `http://HOST:PORT`;
/// * `ws://…`, `wss://…` and subtensor network names are
///   [`ChainSpecError::SubtensorNotBuilt`];
/// * anything else is [`ChainSpecError::Unrecognised`].
///
/// Surrounding whitespace is ignored. Whether a server answers there is
/// for [`crate::DevnetClient::connect`] to find out.
pub fn resolve_chain_spec(spec: &str, env: Option<&str>) -> Result<String, ChainSpecError> {
    let spec = spec.trim();
    let resolved = match spec {
        "devnet" => env
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .unwrap_or(DEFAULT_DEVNET_URL),
        other => other,
    };
    let subtensor = || ChainSpecError::SubtensorNotBuilt {
        spec: resolved.to_string(),
    };
    match resolved.split_once("://") {
        Some(("http", rest)) if !rest.is_empty() => Ok(resolved.to_string()),
        Some(("ws" | "wss", _)) => Err(subtensor()),
        Some(_) => Err(ChainSpecError::Unrecognised {
            spec: resolved.to_string(),
        }),
        None if SUBTENSOR_NETWORKS.contains(&resolved) => Err(subtensor()),
        None if resolved.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
        }) =>
        {
            Ok(format!("http://{resolved}"))
        }
        None => Err(ChainSpecError::Unrecognised {
            spec: resolved.to_string(),
        }),
    }
}

/// [`resolve_chain_spec`] with `$MEDMETRIC_CHAIN` read from the
/// environment.
pub fn resolve_chain_spec_from_env(spec: &str) -> Result<String, ChainSpecError> {
    let env = std::env::var(CHAIN_ENV).ok();
    resolve_chain_spec(spec, env.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_specs() {
        assert_eq!(
            resolve_chain_spec("devnet", None).unwrap(),
            DEFAULT_DEVNET_URL
        );
        assert_eq!(
            resolve_chain_spec(" devnet ", Some("http://127.0.0.1:5000")).unwrap(),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            resolve_chain_spec("devnet", Some("  ")).unwrap(),
            DEFAULT_DEVNET_URL
        );
        assert_eq!(
            resolve_chain_spec("devnet", Some("127.0.0.1:5000")).unwrap(),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            resolve_chain_spec("http://10.0.0.2:9944", None).unwrap(),
            "http://10.0.0.2:9944"
        );
        assert_eq!(
            resolve_chain_spec("127.0.0.1:9955", Some("ignored")).unwrap(),
            "http://127.0.0.1:9955"
        );
        for real in [
            "wss://entrypoint-finney.opentensor.ai:443",
            "ws://x:9944",
            "finney",
            "test",
            "local",
            "archive",
        ] {
            let err = resolve_chain_spec(real, None).unwrap_err();
            assert!(
                matches!(err, ChainSpecError::SubtensorNotBuilt { .. }),
                "{real}"
            );
            let line = err.to_string();
            assert!(
                line.contains("real-chain") && line.contains("subtensor"),
                "{line}"
            );
            assert!(!line.contains('\n'));
        }
        assert!(matches!(
            resolve_chain_spec("devnet", Some("wss://x")),
            Err(ChainSpecError::SubtensorNotBuilt { spec }) if spec == "wss://x"
        ));
        for other in [
            "nonsense",
            "https://x:1",
            "http://",
            "host:",
            ":9944",
            "file:///x",
            "",
        ] {
            let err = resolve_chain_spec(other, None).unwrap_err();
            assert!(
                matches!(err, ChainSpecError::Unrecognised { .. }),
                "{other:?}"
            );
            assert!(!err.to_string().contains('\n'));
        }
    }
}
