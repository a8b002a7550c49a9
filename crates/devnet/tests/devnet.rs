//! The devnet against subtensor's rules, Yuma Consensus, persistence and the
//! loopback API.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use medmetric_chain::{
    BlockHash, Chain, ChainError, Coldkey, CommitmentField, Hyperparameters, Rejection,
    weights_commit_hash,
};
use medmetric_core::{Hotkey, NetUid, Uid};
use medmetric_devnet::{
    Devnet, DevnetClient, DevnetConfig, DevnetControl, DevnetServer, ServerOptions, block_hash,
};
use medmetric_yuma::{EpochInput, EpochParams, run_epoch};

fn hk(s: &str) -> Hotkey {
    Hotkey(s.to_string())
}

fn ck(s: &str) -> Coldkey {
    Coldkey(s.to_string())
}

fn config(h: Hyperparameters) -> DevnetConfig {
    DevnetConfig {
        hyperparameters: h,
        ..DevnetConfig::default()
    }
}

fn devnet(h: Hyperparameters) -> Devnet {
    Devnet::in_memory(&config(h)).unwrap()
}

#[track_caller]
fn rejection<T: std::fmt::Debug>(r: Result<T, ChainError>) -> Rejection {
    match r {
        Err(ChainError::Rejected(rejection)) => rejection,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn fast() -> Hyperparameters {
    Hyperparameters {
        tempo: 9,
        weights_set_rate_limit: 0,
        immunity_period: 0,
        ..Hyperparameters::default()
    }
}

/// Registers `names` (coldkey `owner`) and returns their uids.
fn register_all(chain: &impl Chain, names: &[&str]) -> Vec<u16> {
    names
        .iter()
        .map(|n| chain.burned_register(&hk(n), &ck("owner")).unwrap().0)
        .collect()
}

// ---------------------------------------------------------------- registration

#[test]
fn registration_assigns_uids_and_checks_keys() {
    let chain = devnet(fast());
    assert_eq!(register_all(&chain, &["a", "b"]), [0, 1]);
    assert!(matches!(
        rejection(chain.burned_register(&hk("a"), &ck("owner"))),
        Rejection::HotKeyAlreadyRegisteredInSubNet { uid: 0, .. }
    ));
    assert!(matches!(
        rejection(chain.burned_register(&hk("bad key"), &ck("owner"))),
        Rejection::InvalidKey { .. }
    ));
    assert!(matches!(
        rejection(chain.burned_register(&hk("c"), &ck(""))),
        Rejection::InvalidKey { .. }
    ));
    let m = chain.metagraph().unwrap();
    assert_eq!(m.neurons.len(), 2);
    assert_eq!(m.neurons[1].hotkey, hk("b"));
    assert_eq!(m.neurons[1].coldkey, ck("owner"));
    assert_eq!(chain.status().unwrap().total_burned, 2 * 100_000_000);

    chain
        .set_hyperparameters(&serde_json::json!({"registration_allowed": false}))
        .unwrap();
    assert_eq!(
        rejection(chain.burned_register(&hk("c"), &ck("owner"))),
        Rejection::SubNetRegistrationDisabled
    );
}

#[test]
fn replacement_prunes_lowest_emission_non_immune_uid() {
    let chain = devnet(Hyperparameters {
        tempo: 4,
        max_allowed_uids: 3,
        immunity_period: 10,
        ..fast()
    });
    register_all(&chain, &["a", "b", "c"]);
    chain.add_stake(&ck("owner"), &hk("b"), 1_000).unwrap();
    // Epochs at blocks 2, 7, 12 (netuid 1, tempo 4). Without weights the
    // emission follows stake: only b earns.
    chain.advance(12).unwrap();
    let m = chain.metagraph().unwrap();
    assert!(m.neurons[1].emission > 0);
    assert_eq!((m.neurons[0].emission, m.neurons[2].emission), (0, 0));
    assert!(m.neurons.iter().all(|n| !n.immune));

    // a and c tie on emission and registration block: the lower uid goes.
    assert_eq!(
        chain.burned_register(&hk("d"), &ck("owner")).unwrap(),
        Uid(0)
    );
    // d is immune now; of a-free b and c, c has the lower emission.
    assert_eq!(
        chain.burned_register(&hk("e"), &ck("owner")).unwrap(),
        Uid(2)
    );
    // Only b is left non-immune: it is pruned despite its emission.
    assert_eq!(
        chain.burned_register(&hk("f"), &ck("owner")).unwrap(),
        Uid(1)
    );
    let m = chain.metagraph().unwrap();
    let names: Vec<&str> = m.neurons.iter().map(|n| n.hotkey.0.as_str()).collect();
    assert_eq!(names, ["d", "f", "e"]);
    assert!(
        m.neurons
            .iter()
            .all(|n| n.immune && n.block_at_registration.0 == 12)
    );
    // b keeps its stake (and coldkey) after deregistration.
    assert!(chain.state().unwrap().accounts[&hk("b")].stake > 1_000);

    // With everyone immune the chain still prunes — among immune uids.
    assert_eq!(
        chain.burned_register(&hk("g"), &ck("owner")).unwrap(),
        Uid(0)
    );
}

#[test]
fn min_non_immune_uids_protects_the_last_free_uids() {
    let chain = devnet(Hyperparameters {
        max_allowed_uids: 3,
        immunity_period: 5,
        min_non_immune_uids: 1,
        ..fast()
    });
    register_all(&chain, &["a", "b", "c"]);
    chain.advance(5).unwrap();
    // Three free uids > 1: the free one with the lowest uid goes.
    assert_eq!(
        chain.burned_register(&hk("d"), &ck("owner")).unwrap(),
        Uid(0)
    );
    assert_eq!(
        chain.burned_register(&hk("e"), &ck("owner")).unwrap(),
        Uid(1)
    );
    // One free uid (c) is not more than min_non_immune_uids: prune among the
    // immune (d and e tie, the lower uid goes).
    assert_eq!(
        chain.burned_register(&hk("f"), &ck("owner")).unwrap(),
        Uid(0)
    );
    assert_eq!(chain.metagraph().unwrap().neurons[2].hotkey, hk("c"));
}

#[test]
fn replacement_clears_the_uid() {
    let chain = devnet(Hyperparameters {
        max_allowed_uids: 3,
        ..fast()
    });
    register_all(&chain, &["v", "m1", "m2"]);
    chain.add_stake(&ck("owner"), &hk("v"), 1_000_000).unwrap();
    chain.advance(10).unwrap(); // epoch at block 7: v gets a permit
    chain.set_weights(&hk("v"), &[1, 2], &[1, 2], 0).unwrap();
    chain.set_weights(&hk("m1"), &[1], &[5], 0).unwrap(); // self-weight
    chain.advance(10).unwrap(); // epoch at block 17: bonds
    assert!(!chain.bonds().unwrap()[0].is_empty());

    // v earns dividends and m2 the larger incentive: m1 (a third of the
    // weight) has the lowest emission and goes.
    assert_eq!(chain.burned_register(&hk("n"), &ck("x")).unwrap(), Uid(1));
    let weights = chain.weights().unwrap();
    assert_eq!(
        weights[0],
        vec![(1, 0), (2, 65535)],
        "weights on uid 1 are zeroed"
    );
    assert!(weights[1].is_empty(), "m1's own weights are gone");
    let m = chain.metagraph().unwrap();
    let n = &m.neurons[1];
    assert_eq!(n.hotkey, hk("n"));
    assert_eq!(n.coldkey, ck("x"));
    assert_eq!((n.last_update.0, n.block_at_registration.0), (20, 20));
    assert_eq!((n.incentive, n.emission, n.validator_permit), (0, 0, false));
    assert!(chain.bonds().unwrap()[1].is_empty());

    // The hotkey stays owned by its coldkey.
    chain.advance(1).unwrap();
    assert!(matches!(
        rejection(chain.burned_register(&hk("m1"), &ck("someone-else"))),
        Rejection::NonAssociatedColdKey { .. }
    ));
}

fn with_owner(max_allowed_uids: u16) -> Devnet {
    Devnet::in_memory(&DevnetConfig {
        owner_hotkey: Some(hk("owner-hk")),
        hyperparameters: Hyperparameters {
            max_allowed_uids,
            ..fast()
        },
        ..DevnetConfig::default()
    })
    .unwrap()
}

#[test]
fn owner_hotkey_is_immortal_and_permitted() {
    let chain = with_owner(1);
    register_all(&chain, &["owner-hk"]);
    assert_eq!(
        rejection(chain.burned_register(&hk("x"), &ck("owner"))),
        Rejection::NoNeuronIdAvailable
    );
    let chain = with_owner(2);
    register_all(&chain, &["owner-hk", "y"]);
    // The owner sets weights on others without a permit (y cannot).
    chain.set_weights(&hk("owner-hk"), &[1], &[1], 0).unwrap();
    assert!(matches!(
        rejection(chain.set_weights(&hk("y"), &[0], &[1], 0)),
        Rejection::NeuronNoValidatorPermit { uid: 1 }
    ));
    // Full: y goes, the owner stays.
    assert_eq!(
        chain.burned_register(&hk("x"), &ck("owner")).unwrap(),
        Uid(1)
    );
}

#[test]
fn stake_rules() {
    let chain = devnet(fast());
    register_all(&chain, &["a"]);
    assert_eq!(chain.add_stake(&ck("anyone"), &hk("a"), 5).unwrap(), 5);
    assert_eq!(chain.add_stake(&ck("owner"), &hk("a"), 5).unwrap(), 10);
    assert_eq!(
        rejection(chain.add_stake(&ck("owner"), &hk("a"), 0)),
        Rejection::AmountTooLow
    );
    assert!(matches!(
        rejection(chain.add_stake(&ck("owner"), &hk("nobody"), 1)),
        Rejection::HotKeyAccountNotExists { .. }
    ));
    assert!(matches!(
        rejection(chain.add_stake(&ck("owner"), &hk("a"), u64::MAX)),
        Rejection::StakeOverflow { .. }
    ));
    assert_eq!(chain.metagraph().unwrap().neurons[0].stake, 10);
}

// ---------------------------------------------------------------- commitments

#[test]
fn commitments_are_bounded_and_rate_limited() {
    let chain = devnet(Hyperparameters { tempo: 4, ..fast() });
    register_all(&chain, &["miner", "other"]);
    assert!(matches!(
        rejection(chain.set_commitment(&hk("stranger"), &[CommitmentField::raw_text("x")])),
        Rejection::AccountNotAllowedCommit { .. }
    ));
    assert!(matches!(
        rejection(chain.set_commitment(&hk("miner"), &[CommitmentField::Raw(vec![1; 129])])),
        Rejection::FieldTooLarge {
            index: 0,
            len: 129,
            max: 128,
            ..
        }
    ));
    assert!(matches!(
        rejection(chain.set_commitment(&hk("miner"), &vec![CommitmentField::None; 4])),
        Rejection::TooManyFieldsInCommitmentInfo { got: 4, max: 3 }
    ));
    assert!(matches!(
        rejection(chain.set_commitment(
            &hk("miner"),
            &[CommitmentField::TimelockEncrypted {
                encrypted: vec![1],
                reveal_round: 1
            }]
        )),
        Rejection::UnsupportedField { .. }
    ));

    // 3 × 128 = 384 bytes per commitment; 3100 bytes per epoch allow 8.
    let big = vec![CommitmentField::Raw(vec![7; 128]); 3];
    for _ in 0..8 {
        chain.set_commitment(&hk("miner"), &big).unwrap();
    }
    assert_eq!(
        rejection(chain.set_commitment(&hk("miner"), &big)),
        Rejection::SpaceLimitExceeded {
            used: 3072,
            required: 384,
            max: 3100
        }
    );
    // Small commitments are charged at least 100 bytes: none fits either.
    assert!(matches!(
        rejection(chain.set_commitment(&hk("miner"), &[CommitmentField::None])),
        Rejection::SpaceLimitExceeded { required: 100, .. }
    ));
    // The limit is per hotkey ...
    chain
        .set_commitment(&hk("other"), &[CommitmentField::Sha256([1; 32])])
        .unwrap();
    // ... and per epoch (the next epoch runs at block 2).
    chain.advance(2).unwrap();
    let fields = vec![
        CommitmentField::raw_text("onnx:abc"),
        CommitmentField::Sha256([9; 32]),
    ];
    let at = chain.set_commitment(&hk("miner"), &fields).unwrap();
    assert_eq!(at.number.0, 2);

    let c = chain.commitment(&hk("miner")).unwrap().unwrap();
    assert_eq!((c.block.0, &c.fields), (2, &fields));
    assert_eq!(c.fields[0].as_text(), Some("onnx:abc"));
    let all = chain.commitments().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].hotkey, hk("miner"));
    assert_eq!(all[1].block.0, 0);
    assert_eq!(chain.commitment(&hk("nobody")).unwrap(), None);
}

#[test]
fn reset_bonds_flag_clears_bonds_on_the_committer() {
    let chain = devnet(Hyperparameters {
        bonds_reset_enabled: true,
        ..fast()
    });
    register_all(&chain, &["v", "m"]);
    chain.add_stake(&ck("owner"), &hk("v"), 1_000).unwrap();
    chain.advance(10).unwrap();
    chain.set_weights(&hk("v"), &[1], &[1], 0).unwrap();
    chain.advance(10).unwrap();
    assert_eq!(chain.bonds().unwrap()[0], vec![(1, 65535)]);
    chain
        .set_commitment(&hk("m"), &[CommitmentField::ResetBondsFlag])
        .unwrap();
    assert!(chain.bonds().unwrap()[0].is_empty());
}

// ---------------------------------------------------------------- weights

/// A validator (uid 0, with a permit after the first epoch) and three miners.
fn validator_and_miners(h: Hyperparameters) -> Devnet {
    let chain = devnet(h);
    register_all(&chain, &["v", "m1", "m2", "m3"]);
    chain
        .add_stake(&ck("owner"), &hk("v"), 1_000_000_000)
        .unwrap();
    // The first epoch (block 7 with tempo 9 and netuid 1) hands out permits.
    let next = chain.status().unwrap().next_epoch_block.unwrap();
    chain.advance(next).unwrap();
    assert!(chain.metagraph().unwrap().neurons[0].validator_permit);
    chain
}

#[test]
fn set_weights_checks_like_the_chain() {
    let chain = validator_and_miners(Hyperparameters {
        min_allowed_weights: 2,
        weights_version_key: 7,
        ..fast()
    });
    let v = hk("v");
    assert_eq!(
        rejection(chain.set_weights(&v, &[1, 2], &[1], 7)),
        Rejection::WeightVecNotEqualSize { uids: 2, values: 1 }
    );
    assert!(matches!(
        rejection(chain.set_weights(&v, &[0, 1, 2, 3, 3], &[1; 5], 7)),
        Rejection::UidsLengthExceedUidsInSubNet {
            len: 5,
            subnet_n: 4
        }
    ));
    assert!(matches!(
        rejection(chain.set_weights(&hk("nobody"), &[1], &[1], 7)),
        Rejection::HotKeyNotRegisteredInSubNet { .. }
    ));
    assert_eq!(
        rejection(chain.set_weights(&v, &[1, 2], &[1, 1], 6)),
        Rejection::IncorrectWeightVersionKey {
            got: 6,
            required: 7
        }
    );
    assert_eq!(
        rejection(chain.set_weights(&hk("m1"), &[2, 3], &[1, 1], 7)),
        Rejection::NeuronNoValidatorPermit { uid: 1 }
    );
    assert_eq!(
        rejection(chain.set_weights(&v, &[1, 1], &[1, 1], 7)),
        Rejection::DuplicateUids { uid: 1 }
    );
    assert_eq!(
        rejection(chain.set_weights(&v, &[1, 9], &[1, 1], 7)),
        Rejection::UidVecContainInvalidOne {
            uid: 9,
            subnet_n: 4
        }
    );
    assert_eq!(
        rejection(chain.set_weights(&v, &[1], &[1], 7)),
        Rejection::WeightVecLengthIsLow {
            len: 1,
            min_allowed: 2
        }
    );
    // A self-weight is allowed without permit and below min_allowed_weights.
    chain.set_weights(&hk("m1"), &[1], &[3], 7).unwrap();
    // Values are stored max-upscaled.
    chain.set_weights(&v, &[1, 2, 3], &[1, 2, 4], 8).unwrap();
    assert_eq!(
        chain.weights().unwrap()[0],
        vec![(1, 16384), (2, 32768), (3, 65535)]
    );
    assert_eq!(chain.metagraph().unwrap().neurons[0].last_update.0, 7);

    chain
        .set_hyperparameters(&serde_json::json!({"stake_threshold": 1_000_000_000_000_000_000u64}))
        .unwrap();
    assert!(matches!(
        rejection(chain.set_weights(&v, &[1, 2], &[1, 1], 7)),
        Rejection::NotEnoughStakeToSetWeights { .. }
    ));
}

#[test]
fn set_weights_is_rate_limited() {
    let chain = validator_and_miners(Hyperparameters {
        weights_set_rate_limit: 3,
        ..fast()
    });
    let v = hk("v");
    // Registered at block 0 (last_update 0 counts as "never set").
    chain.set_weights(&v, &[1], &[1], 0).unwrap();
    chain.advance(2).unwrap();
    assert_eq!(
        rejection(chain.set_weights(&v, &[2], &[1], 0)),
        Rejection::SettingWeightsTooFast {
            last_update: 7,
            rate_limit: 3,
            block: 9
        }
    );
    chain.advance(1).unwrap();
    chain.set_weights(&v, &[2], &[1], 0).unwrap();

    // A uid registered later must first wait out the limit since registration.
    chain.burned_register(&hk("late"), &ck("owner")).unwrap();
    assert!(matches!(
        rejection(chain.set_weights(&hk("late"), &[4], &[1], 0)),
        Rejection::SettingWeightsTooFast { .. }
    ));
}

// ---------------------------------------------------------------- commit-reveal

#[test]
fn commit_reveal_follows_the_reveal_period() {
    let chain = validator_and_miners(Hyperparameters {
        commit_reveal_enabled: true,
        reveal_period: 1,
        ..fast()
    });
    let v = hk("v");
    let netuid = chain.netuid();
    assert_eq!(
        rejection(chain.set_weights(&v, &[1], &[1], 0)),
        Rejection::CommitRevealEnabled
    );
    let (uids, values, salt) = ([1u16, 2], [10u16, 20], [1u16, 2, 3, 4]);
    let hash = weights_commit_hash(&v, netuid, &uids, &values, &salt, 0);
    let info = chain.commit_weights(&v, hash).unwrap();
    assert_eq!(
        (info.commit_epoch, info.reveal_epoch, info.block.0),
        (1, 2, 7)
    );
    // The commit counts as the weight update.
    assert_eq!(chain.metagraph().unwrap().neurons[0].last_update.0, 7);

    assert_eq!(
        rejection(chain.reveal_weights(&v, &uids, &values, &salt, 0)),
        Rejection::RevealTooEarly {
            commit_epoch: 1,
            reveal_epoch: 2,
            current_epoch: 1
        }
    );
    chain.advance(10).unwrap(); // epoch 2 at block 17
    assert_eq!(
        rejection(chain.reveal_weights(&v, &uids, &values, &[9, 9], 0)),
        Rejection::InvalidRevealCommitHashNotMatch
    );
    assert_eq!(
        rejection(chain.reveal_weights(&v, &uids, &[10, 21], &salt, 0)),
        Rejection::InvalidRevealCommitHashNotMatch
    );
    assert!(chain.weights().unwrap()[0].is_empty());
    chain.reveal_weights(&v, &uids, &values, &salt, 0).unwrap();
    assert_eq!(chain.weights().unwrap()[0], vec![(1, 32768), (2, 65535)]);
    // The reveal itself does not move last_update.
    assert_eq!(chain.metagraph().unwrap().neurons[0].last_update.0, 7);
    assert!(matches!(
        rejection(chain.reveal_weights(&v, &uids, &values, &salt, 0)),
        Rejection::NoWeightsCommitFound { .. }
    ));

    // A commit not revealed in its reveal epoch expires.
    let hash2 = weights_commit_hash(&v, netuid, &[3], &[1], &salt, 0);
    chain.commit_weights(&v, hash2).unwrap();
    chain.advance(20).unwrap(); // two epochs
    assert_eq!(
        rejection(chain.reveal_weights(&v, &[3], &[1], &salt, 0)),
        Rejection::ExpiredWeightCommit
    );

    chain
        .set_hyperparameters(&serde_json::json!({"commit_reveal_enabled": false}))
        .unwrap();
    assert_eq!(
        rejection(chain.commit_weights(&v, hash)),
        Rejection::CommitRevealDisabled
    );
}

#[test]
fn weight_commits_are_rate_limited_and_capped() {
    let chain = validator_and_miners(Hyperparameters {
        commit_reveal_enabled: true,
        reveal_period: 3,
        weights_set_rate_limit: 2,
        ..fast()
    });
    let v = hk("v");
    chain.commit_weights(&v, [1; 32]).unwrap();
    assert!(matches!(
        rejection(chain.commit_weights(&v, [2; 32])),
        Rejection::CommittingWeightsTooFast { .. }
    ));
    chain
        .set_hyperparameters(&serde_json::json!({"weights_set_rate_limit": 0}))
        .unwrap();
    for i in 2..=10u8 {
        chain.commit_weights(&v, [i; 32]).unwrap();
    }
    assert_eq!(
        rejection(chain.commit_weights(&v, [11; 32])),
        Rejection::TooManyUnrevealedCommits { max: 10 }
    );
    assert!(matches!(
        rejection(chain.commit_weights(&hk("nobody"), [1; 32])),
        Rejection::HotKeyNotRegisteredInSubNet { .. }
    ));
}

// ---------------------------------------------------------------- epochs

/// `(validator uid, target uids, values)`.
type WeightSet = (usize, &'static [u16], &'static [u16]);

/// Replays the devnet's history on a hand-built `EpochInput` and checks
/// every epoch against `medmetric_yuma::run_epoch` called directly.
fn epochs_match_yuma(yuma3: bool) {
    let h = Hyperparameters {
        tempo: 5,
        weights_set_rate_limit: 0,
        // Emission paid to stake makes miners stakers too: with 64 permits
        // they become (idle) validators rather than pushing v2 out.
        max_allowed_validators: 64,
        yuma3_enabled: yuma3,
        liquid_alpha_enabled: yuma3,
        emission_per_block: 1_000_000_000,
        ..Hyperparameters::default()
    };
    let chain = devnet(h.clone());
    let params = EpochParams {
        kappa: h.kappa,
        bonds_moving_average: h.bonds_moving_average,
        bonds_penalty: h.bonds_penalty,
        yuma3,
        liquid_alpha: yuma3,
        alpha_low: h.alpha_low,
        alpha_high: h.alpha_high,
        alpha_sigmoid_steepness: h.alpha_sigmoid_steepness,
        max_allowed_validators: h.max_allowed_validators,
        activity_cutoff: h.activity_cutoff,
        stake_threshold: 0,
        tempo: 5,
        owner_uid: None,
    };
    let names = ["v0", "v1", "v2", "m0", "m1", "m2"];
    let stakes = [3_000_000_000u64, 2_000_000_000, 1_000_000_000, 0, 0, 0];
    register_all(&chain, &names);
    for (name, &stake) in names.iter().zip(&stakes) {
        if stake > 0 {
            chain.add_stake(&ck("owner"), &hk(name), stake).unwrap();
        }
    }
    let mut mirror = EpochInput::with_stakes(&stakes, params);
    let mut stake = stakes.to_vec();
    let mut last_epoch = 0u64;
    let mut epochs = 0;
    // Epochs at (b + 2) % 6 == 5: blocks 3, 9, 15, 21, 27.
    let plan: [&[WeightSet]; 5] = [
        &[],
        &[(0, &[3, 4], &[1, 1]), (1, &[3, 4, 5], &[3, 2, 1])],
        &[(2, &[5], &[1]), (0, &[3], &[1])],
        &[(1, &[4, 5], &[1, 1]), (2, &[3, 4], &[1, 9])],
        &[(0, &[3, 4, 5], &[0, 1, 0])],
    ];
    for sets in plan {
        let head = chain.block().unwrap().number.0;
        for &(uid, uids, values) in sets {
            chain.set_weights(&hk(names[uid]), uids, values, 0).unwrap();
            mirror
                .set_weights(u16::try_from(uid).unwrap(), uids, values, head)
                .unwrap();
        }
        let epoch_block = chain.status().unwrap().next_epoch_block.unwrap();
        chain.advance(epoch_block - head).unwrap();

        mirror.stake = stake
            .iter()
            .map(|&s| medmetric_yuma::stake_from_u64(s))
            .collect();
        mirror.current_block = epoch_block;
        mirror.last_mechanism_step_block = last_epoch;
        mirror.emission = (epoch_block - last_epoch) * 1_000_000_000;
        let out = run_epoch(&mirror).unwrap();
        mirror.apply(&out);
        for (i, s) in stake.iter_mut().enumerate() {
            *s += out.server_emission[i] + out.validator_emission[i];
        }
        last_epoch = epoch_block;
        epochs += 1;

        let stored = out.stored();
        let m = chain.metagraph().unwrap();
        let field = |f: fn(&medmetric_chain::NeuronInfo) -> u16| -> Vec<u16> {
            m.neurons.iter().map(f).collect()
        };
        assert_eq!(field(|n| n.incentive), stored.incentive, "epoch {epochs}");
        assert_eq!(field(|n| n.dividends), stored.dividends, "epoch {epochs}");
        assert_eq!(field(|n| n.consensus), stored.consensus, "epoch {epochs}");
        assert_eq!(field(|n| n.validator_trust), stored.validator_trust);
        assert_eq!(field(|n| n.stake_weight), stored.stake_weight);
        let emission: Vec<u64> = m.neurons.iter().map(|n| n.emission).collect();
        assert_eq!(emission, out.emission, "epoch {epochs}");
        let permits: Vec<bool> = m.neurons.iter().map(|n| n.validator_permit).collect();
        assert_eq!(permits, out.validator_permit);
        let chain_stake: Vec<u64> = m.neurons.iter().map(|n| n.stake).collect();
        assert_eq!(chain_stake, stake, "emission is paid to stake");
        assert_eq!(chain.bonds().unwrap(), out.bonds, "epoch {epochs}");
        let status = chain.status().unwrap();
        assert_eq!(
            (status.epoch_index, status.last_epoch_block),
            (epochs, epoch_block)
        );
        assert_eq!(status.pending_emission, 0);
        assert_eq!(status.last_epoch_error, None);
    }
    assert_eq!(last_epoch, 27);
    // The last epoch paid miners and validators.
    let m = chain.metagraph().unwrap();
    assert!(m.neurons[4].incentive > 0 && m.neurons[0].dividends > 0);
}

#[test]
fn epochs_every_tempo_match_yuma_original() {
    epochs_match_yuma(false);
}

#[test]
fn epochs_every_tempo_match_yuma3_liquid_alpha() {
    epochs_match_yuma(true);
}

#[test]
fn block_hashes_are_deterministic() {
    let a = devnet(fast());
    let b = devnet(fast());
    a.advance(30).unwrap();
    b.advance(30).unwrap();
    assert_eq!(a.block().unwrap(), b.block().unwrap());
    let mut parent = BlockHash::default();
    for n in 0..=30 {
        let expected = block_hash("medmetric-devnet", n, &parent);
        assert_eq!(a.block_hash(n).unwrap(), expected);
        parent = expected;
    }
    assert!(matches!(
        rejection(a.block_hash(31)),
        Rejection::UnknownBlock {
            block: 31,
            head: 30
        }
    ));
    let other = Devnet::in_memory(&DevnetConfig {
        chain_id: "other".into(),
        ..config(fast())
    })
    .unwrap();
    assert_ne!(other.block_hash(0).unwrap(), a.block_hash(0).unwrap());
    assert!(matches!(
        rejection(a.advance(100_001)),
        Rejection::TooManyBlocks { .. }
    ));
}

#[test]
fn wait_for_block_waits_or_produces_on_demand() {
    let chain = Arc::new(devnet(fast()));
    let err = chain
        .wait_for_block(5, Duration::from_millis(20))
        .unwrap_err();
    assert_eq!(err, ChainError::Timeout { target: 5, head: 0 });
    let producer = {
        let chain = Arc::clone(&chain);
        std::thread::spawn(move || {
            for _ in 0..5 {
                std::thread::sleep(Duration::from_millis(5));
                chain.advance(1).unwrap();
            }
        })
    };
    assert_eq!(
        chain
            .wait_for_block(5, Duration::from_secs(10))
            .unwrap()
            .number
            .0,
        5
    );
    producer.join().unwrap();
    chain.set_on_demand_blocks(true);
    assert_eq!(
        chain.wait_for_block(40, Duration::ZERO).unwrap().number.0,
        40
    );
    assert!(matches!(
        rejection(chain.wait_for_block(u64::MAX, Duration::ZERO)),
        Rejection::TooManyBlocks { .. }
    ));
}

// ---------------------------------------------------------------- persistence

/// Every kind of change, so a restart has something to lose.
fn history_part_one(chain: &impl DevnetControl) {
    register_all(chain, &["v0", "v1", "m0", "m1"]);
    chain
        .add_stake(&ck("owner"), &hk("v0"), 2_000_000_000)
        .unwrap();
    chain
        .add_stake(&ck("owner"), &hk("v1"), 1_000_000_000)
        .unwrap();
    chain
        .set_commitment(&hk("m0"), &[CommitmentField::raw_text("model-a")])
        .unwrap();
    chain.advance(9).unwrap();
    chain.set_weights(&hk("v0"), &[2, 3], &[3, 1], 0).unwrap();
    chain.set_weights(&hk("v1"), &[2, 3], &[1, 1], 0).unwrap();
    chain.advance(25).unwrap();
    chain
        .set_hyperparameters(&serde_json::json!({"commit_reveal_enabled": true}))
        .unwrap();
    let hash = weights_commit_hash(&hk("v0"), NetUid(1), &[3], &[1], &[42], 0);
    chain.commit_weights(&hk("v0"), hash).unwrap();
    chain
        .set_commitment(&hk("m1"), &[CommitmentField::Sha256([3; 32])])
        .unwrap();
}

fn history_part_two(chain: &impl DevnetControl) {
    chain.advance(11).unwrap();
    chain
        .reveal_weights(&hk("v0"), &[3], &[1], &[42], 0)
        .unwrap();
    chain.burned_register(&hk("m2"), &ck("owner")).unwrap();
    chain.advance(23).unwrap();
}

#[test]
fn a_reopened_devnet_continues_exactly_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devnet.sqlite");
    let cfg = config(Hyperparameters {
        weights_set_rate_limit: 0,
        tempo: 9,
        ..Hyperparameters::default()
    });

    let reference = Devnet::in_memory(&cfg).unwrap();
    history_part_one(&reference);

    let chain = Devnet::create(&path, &cfg).unwrap();
    history_part_one(&chain);
    let before = chain.state().unwrap();
    assert_eq!(before, reference.state().unwrap());
    let hashes: Vec<_> = (0..=before.head.number.0)
        .map(|n| chain.block_hash(n).unwrap())
        .collect();
    // The file is locked while the devnet is open.
    let second = Devnet::open(&path).unwrap_err();
    assert!(
        matches!(second, ChainError::Storage(ref m) if m.contains("in use")),
        "{second}"
    );
    drop(chain);

    assert!(
        Devnet::create(&path, &cfg).is_err(),
        "create refuses an existing devnet"
    );
    let reopened = Devnet::open(&path).unwrap();
    assert_eq!(reopened.state().unwrap(), before);
    for (n, hash) in hashes.iter().enumerate() {
        assert_eq!(&reopened.block_hash(n as u64).unwrap(), hash);
    }
    assert!(!reopened.state().unwrap().weight_commits.is_empty());

    history_part_two(&reopened);
    history_part_two(&reference);
    let after = reopened.state().unwrap();
    assert_eq!(after, reference.state().unwrap());
    assert!(after.epoch_index >= 6 && after.neurons.len() == 5);
    drop(reopened);

    // open_or_create ignores a different config for an existing file.
    let (again, created) = Devnet::open_or_create(&path, &DevnetConfig::default()).unwrap();
    assert!(!created);
    assert_eq!(again.state().unwrap(), after);
    assert!(Devnet::open(&dir.path().join("missing.sqlite")).is_err());
}

#[test]
fn a_corrupt_state_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.sqlite");
    std::fs::write(&path, b"this is not sqlite at all, not even close......").unwrap();
    assert!(matches!(Devnet::open(&path), Err(ChainError::Storage(_))));
}

// ---------------------------------------------------------------- loopback API

struct Served {
    server: DevnetServer,
}

fn serve(h: Hyperparameters, options: ServerOptions) -> Served {
    let chain = Arc::new(devnet(h));
    Served {
        server: DevnetServer::start(chain, 0, options).unwrap(),
    }
}

fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn client_and_in_process_devnet_agree() {
    let served = serve(fast(), ServerOptions::default());
    let url = served.server.url();
    assert!(url.starts_with("http://127.0.0.1:"));
    let a = DevnetClient::connect(&url).unwrap();
    let b = DevnetClient::connect(&url).unwrap();
    assert_eq!(a.netuid(), NetUid(1));

    history_part_one(&a);
    let local = served.server.devnet();
    assert_eq!(b.metagraph().unwrap(), local.metagraph().unwrap());
    assert_eq!(b.weights().unwrap(), local.weights().unwrap());
    assert_eq!(b.bonds().unwrap(), local.bonds().unwrap());
    assert_eq!(b.commitments().unwrap(), local.commitments().unwrap());
    assert_eq!(
        b.commitment(&hk("m0")).unwrap().unwrap().fields[0].as_text(),
        Some("model-a")
    );
    assert_eq!(
        b.hyperparameters().unwrap(),
        local.hyperparameters().unwrap()
    );
    assert_eq!(b.status().unwrap(), local.status().unwrap());
    assert_eq!(b.block().unwrap(), local.block().unwrap());
    assert_eq!(b.block_hash(3).unwrap(), local.block_hash(3).unwrap());
    history_part_two(&b);

    // The same history in-process gives the same state.
    let reference = devnet(fast());
    history_part_one(&reference);
    history_part_two(&reference);
    assert_eq!(local.state().unwrap(), reference.state().unwrap());

    // Rejections cross the wire typed.
    assert!(matches!(
        rejection(a.burned_register(&hk("v0"), &ck("owner"))),
        Rejection::HotKeyAlreadyRegisteredInSubNet { uid: 0, .. }
    ));
    assert!(matches!(
        rejection(a.commitment(&hk("../status"))),
        Rejection::InvalidKey { .. }
    ));
    assert!(matches!(
        rejection(a.set_hyperparameters(&serde_json::json!({"nope": 1}))),
        Rejection::InvalidHyperparameter { .. }
    ));
}

#[test]
fn clients_wait_for_blocks_from_the_block_timer() {
    let served = serve(
        fast(),
        ServerOptions {
            block_interval: Some(Duration::from_millis(20)),
            ..ServerOptions::default()
        },
    );
    let client = DevnetClient::connect(&served.server.url()).unwrap();
    let started = Instant::now();
    let head = client.wait_for_block(10, Duration::from_secs(20)).unwrap();
    assert!(head.number.0 >= 10);
    assert!(started.elapsed() < Duration::from_secs(15));
    let err = client
        .wait_for_block(1_000_000, Duration::from_millis(100))
        .unwrap_err();
    assert!(
        matches!(
            err,
            ChainError::Timeout {
                target: 1_000_000,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn the_server_survives_hostile_requests() {
    let served = serve(
        fast(),
        ServerOptions {
            max_body_bytes: 4096,
            request_timeout: Duration::from_millis(300),
            ..ServerOptions::default()
        },
    );
    let addr = served.server.local_addr();
    let post = |path: &str, body: &str| {
        raw_exchange(
            addr,
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    };
    let r = post("/v1/register", "{not json");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert!(r.contains("bad_request"), "{r}");
    let r = post("/v1/register", r#"{"hotkey":"a","coldkey":"b","extra":1}"#);
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let r = post(
        "/v1/weights",
        &format!("{}1{}", "[".repeat(2000), "]".repeat(2000)),
    );
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let r = post("/v1/advance", r#"{"blocks": 1e999}"#);
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let r = post("/v1/nowhere", "{}");
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    let r = raw_exchange(addr, b"GET /v1/register HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 405"), "{r}");
    let r = raw_exchange(addr, b"GET /v1/block/xyz HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let r = raw_exchange(addr, b"GET /v1/wait?block=zz HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let r = raw_exchange(addr, b"NONSENSE\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    // Too large, declared or not.
    let r = raw_exchange(
        addr,
        b"POST /v1/register HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    let mut huge_head = b"GET /v1/status HTTP/1.1\r\n".to_vec();
    huge_head.extend(std::iter::repeat_n(b'a', 20_000));
    let r = raw_exchange(addr, &huge_head);
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    let r = raw_exchange(
        addr,
        b"POST /v1/register HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    // A slow client is cut off.
    let started = Instant::now();
    let r = raw_exchange(
        addr,
        b"POST /v1/register HTTP/1.1\r\nContent-Length: 50\r\n\r\n{",
    );
    assert!(r.starts_with("HTTP/1.1 408"), "{r}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A rejection is 422 with the typed body.
    let r = post(
        "/v1/stake",
        r#"{"coldkey":"c","hotkey":"nobody","amount":1}"#,
    );
    assert!(r.starts_with("HTTP/1.1 422"), "{r}");
    assert!(r.contains(r#""error":"HotKeyAccountNotExists""#), "{r}");

    // Still serving.
    let client = DevnetClient::connect(&served.server.url()).unwrap();
    assert_eq!(client.block().unwrap().number.0, 0);
    assert!(matches!(
        DevnetClient::connect("https://127.0.0.1:1"),
        Err(ChainError::Transport(_))
    ));
}

#[test]
fn connection_refused_is_a_transport_error() {
    // Bind and drop to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = DevnetClient::connect(&format!("127.0.0.1:{port}")).unwrap_err();
    assert!(matches!(err, ChainError::Transport(_)), "{err}");
    assert!(!err.is_rejection());
}
