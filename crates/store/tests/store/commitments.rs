//! Commitments: the format, the binding, the chain fields, and a hostile
//! corpus each refused for the right reason.

use medmetric_core::{Hotkey, Modality, ModelDigest};
use medmetric_store::cid::{Cid, Codec, Version};
use medmetric_store::commitment::{self, Commitment, CommitmentError, MAX_FIELD0_BYTES};

const V0: &str = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH";
const V1: &str = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";

fn ok_binding() -> [u8; 32] {
    commitment::binding(&ModelDigest::of(b"onnx"), &Hotkey("m".into()))
}

#[test]
fn round_trip_for_every_modality_and_cid_form() {
    let onnx = b"onnx bytes";
    let digest = ModelDigest::of(onnx);
    let hotkey = Hotkey("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".into());
    for modality in Modality::ALL {
        for cid in [
            Cid::of(onnx, Version::V0),
            Cid::of(onnx, Version::V1),
            Cid::v1(Codec::DagPb, [3; 32]),
        ] {
            let c = Commitment::new(modality, cid, &digest, &hotkey);
            let (raw, binding) = c.fields();
            assert_eq!(raw, format!("mm1:{modality}:{cid}").into_bytes());
            assert!(raw.len() <= MAX_FIELD0_BYTES);
            let parsed = Commitment::parse(&raw, &binding).unwrap();
            assert_eq!(parsed, c);
            assert_eq!(parsed.modality(), modality.name());
            assert_eq!(parsed.modality_kind(), modality);
            assert_eq!(parsed.cid(), &cid);
            assert!(parsed.verify_binding(&digest, &hotkey));
            assert!(!parsed.verify_binding(&ModelDigest::of(b"other"), &hotkey));
            assert!(!parsed.verify_binding(&digest, &Hotkey("someone-else".into())));
            let fields = c.to_chain_fields();
            assert!(medmetric_chain::check_commitment_fields(&fields).is_ok());
            assert_eq!(Commitment::from_chain_fields(&fields).unwrap(), c);
            assert_eq!(Commitment::try_from(fields.as_slice()).unwrap(), c);
        }
    }
    // Only the exact names parse back.
    for name in ["mri", "CXR", "Brain"] {
        let raw = format!("mm1:{name}:{}", Cid::of(onnx, Version::V0));
        assert!(matches!(
            Commitment::parse(raw.as_bytes(), &ok_binding()),
            Err(CommitmentError::UnknownModality { .. })
        ));
    }
}

#[test]
fn hostile_commitments_are_refused_for_the_right_reason() {
    let b = ok_binding();
    let long_v0 = format!("mm1:cxr:{V0}{}", "1".repeat(90));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "empty"),
        (vec![b'a'; 129], "oversized"),
        (long_v0.clone().into_bytes(), "oversized"),
        (vec![0xff, 0xfe, 0x00, 0x41], "garbage"),
        (b"mm1:cxr:\x00Qm".to_vec(), "garbage"),
        (b"mm1:cxr:Qm\x1b[31m".to_vec(), "garbage"),
        (b"\x7fmm1:cxr:Qm".to_vec(), "garbage"),
        ("mm1:cxr:Qmé".as_bytes().to_vec(), "non_ascii"),
        ("mm1:cxr:\u{202e}Qm".as_bytes().to_vec(), "non_ascii"),
        (format!("mm1:cxr:{V0}\n").into_bytes(), "whitespace"),
        (format!(" mm1:cxr:{V0}").into_bytes(), "whitespace"),
        (format!("mm1:cxr: {V0}").into_bytes(), "whitespace"),
        (format!("mm1:cxr:{V0}\r").into_bytes(), "whitespace"),
        (format!("mm1:cxr:{V0}\t").into_bytes(), "whitespace"),
        (b"http://evil.example/model.onnx".to_vec(), "url"),
        (b"https://evil.example:443/m".to_vec(), "url"),
        (format!("ipfs://{V0}").into_bytes(), "url"),
        (format!("mm1:cxr:ipfs://{V0}").into_bytes(), "url"),
        (format!("mm1:cxr:/ipfs/{V0}").into_bytes(), "url"),
        (
            format!("mm1:cxr:http://127.0.0.1:5001/api/v0/cat?arg={V0}").into_bytes(),
            "url",
        ),
        (b"mm1:cxr:file".to_vec(), "bad_cid"),
        (b"mm1:cxr:file:".to_vec(), "wrong_shape"),
        (b"www.evil.example".to_vec(), "url"),
        (b"mm1:cxr:..\\..\\etc".to_vec(), "url"),
        (format!("mm2:cxr:{V0}").into_bytes(), "bad_prefix"),
        (format!("MM1:cxr:{V0}").into_bytes(), "bad_prefix"),
        (format!("cxr:{V0}").into_bytes(), "bad_prefix"),
        (V0.as_bytes().to_vec(), "bad_prefix"),
        (b"mm1".to_vec(), "wrong_shape"),
        (b"mm1:cxr".to_vec(), "wrong_shape"),
        (format!("mm1:cxr:{V0}:extra").into_bytes(), "wrong_shape"),
        (format!("mm1:cxr::{V0}").into_bytes(), "wrong_shape"),
        (format!("mm1:cxr:{V0}:").into_bytes(), "wrong_shape"),
        (format!("mm1:mri:{V0}").into_bytes(), "unknown_modality"),
        (format!("mm1:CXR:{V0}").into_bytes(), "unknown_modality"),
        (format!("mm1::{V0}").into_bytes(), "unknown_modality"),
        (b"mm1:cxr:".to_vec(), "bad_cid"),
        (b"mm1:cxr:QmNotACid".to_vec(), "bad_cid"),
        (format!("mm1:cxr:{}", &V0[..45]).into_bytes(), "bad_cid"),
        (
            format!("mm1:cxr:{}", V1.to_uppercase()).into_bytes(),
            "bad_cid",
        ),
        (
            b"mm1:cxr:bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku".to_vec(),
            "bad_cid",
        ),
        (
            b"mm1:cxr:zdj7WWeQ43G6JJvLWQWZpyHuAMq6uYWRjkBXFad11vE2LHhQ7".to_vec(),
            "bad_cid",
        ),
    ];
    for (raw, want) in &cases {
        let err = Commitment::parse(raw, &b).expect_err(&String::from_utf8_lossy(raw));
        assert_eq!(
            err.kind(),
            *want,
            "{:?} refused as {err} ({}), expected {want}",
            String::from_utf8_lossy(raw),
            err.kind()
        );
        let line = err.to_string();
        assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
        assert!(line.len() < 300, "{line}");
    }
    // a valid field 0 with a bad binding
    let raw = format!("mm1:bone:{V1}");
    for len in [0, 31, 33, 64] {
        assert_eq!(
            Commitment::parse(raw.as_bytes(), &vec![0; len]).unwrap_err(),
            CommitmentError::BadBinding { len }
        );
    }
    assert!(Commitment::parse(raw.as_bytes(), &b).is_ok());
}

/// The conversions to and from the chain crate's commitment fields.
mod chain {
    use super::*;
    use medmetric_chain::{Chain, Coldkey, CommitmentField};
    use medmetric_devnet::{Devnet, DevnetConfig};

    #[test]
    fn chain_fields_must_be_raw_then_sha256() {
        let c = Commitment::parse(format!("mm1:cxr:{V0}").as_bytes(), &ok_binding()).unwrap();
        let [raw, sha] = <[CommitmentField; 2]>::try_from(c.to_chain_fields()).unwrap();
        let bad: Vec<(Vec<CommitmentField>, &str)> = vec![
            (vec![], "field_count"),
            (vec![raw.clone()], "field_count"),
            (
                vec![raw.clone(), sha.clone(), CommitmentField::None],
                "field_count",
            ),
            (vec![sha.clone(), raw.clone()], "wrong_field_kind"),
            (
                vec![CommitmentField::BigRaw(c.fields().0), sha.clone()],
                "wrong_field_kind",
            ),
            (
                vec![raw.clone(), CommitmentField::BlakeTwo256(ok_binding())],
                "wrong_field_kind",
            ),
            (
                vec![raw.clone(), CommitmentField::Raw(ok_binding().to_vec())],
                "wrong_field_kind",
            ),
            (
                vec![
                    CommitmentField::raw_text("http://x.example/m.onnx"),
                    sha.clone(),
                ],
                "url",
            ),
        ];
        for (fields, want) in bad {
            assert_eq!(
                Commitment::from_chain_fields(&fields).unwrap_err().kind(),
                want,
                "{fields:?}"
            );
        }
    }

    #[test]
    fn devnet_round_trip_and_a_copied_commitment_fails_the_binding() {
        let chain = Devnet::in_memory(&DevnetConfig::default()).unwrap();
        let owner = Coldkey("owner".into());
        let miner = Hotkey("miner-honest".into());
        let copycat = Hotkey("miner-copycat".into());
        chain.burned_register(&miner, &owner).unwrap();
        chain.burned_register(&copycat, &owner).unwrap();

        let onnx = b"the honest model".repeat(100);
        let digest = ModelDigest::of(&onnx);
        let mine = Commitment::new(Modality::Cxr, Cid::of(&onnx, Version::V0), &digest, &miner);
        chain
            .set_commitment(&miner, &mine.to_chain_fields())
            .unwrap();
        // the copycat publishes the very same fields under its own hotkey
        let seen = chain.commitment(&miner).unwrap().unwrap();
        chain.set_commitment(&copycat, &seen.fields).unwrap();

        let honest = chain.commitment(&miner).unwrap().unwrap();
        let copied = chain.commitment(&copycat).unwrap().unwrap();
        let honest_c = Commitment::try_from(&honest).unwrap();
        let copied_c = Commitment::try_from(&copied).unwrap();
        assert_eq!(honest_c, mine);
        assert!(honest_c.verify_binding(&digest, &honest.hotkey));
        assert!(!copied_c.verify_binding(&digest, &copied.hotkey));

        // a commitment at the pallet's limit parses; the chain refuses one byte more
        let at_limit = format!("mm1:cxr:{}", "Q".repeat(MAX_FIELD0_BYTES - 8));
        assert_eq!(at_limit.len(), MAX_FIELD0_BYTES);
        chain
            .set_commitment(
                &copycat,
                &[
                    CommitmentField::raw_text(&at_limit),
                    CommitmentField::Sha256([0; 32]),
                ],
            )
            .unwrap();
        let stored = chain.commitment(&copycat).unwrap().unwrap();
        assert_eq!(Commitment::try_from(&stored).unwrap_err().kind(), "bad_cid");
        assert!(
            chain
                .set_commitment(
                    &copycat,
                    &[CommitmentField::Raw(vec![b'a'; MAX_FIELD0_BYTES + 1])]
                )
                .is_err()
        );
    }
}
