//! Real Intel quotes and collateral (from `dcap-qvl` 0.7.1's samples, see `testdata/README.md`).

use super::*;
use crate::time::parse_rfc3339;
use veil_primitives::{AccountId, Hash, RegistrationInfo};

struct Vector {
    quote: &'static [u8],
    collateral: &'static [u8],
    /// A time inside the collateral's window.
    inside: &'static str,
    /// The collateral's `nextUpdate`.
    next_update: &'static str,
    status: &'static str,
    advisories: &'static [&'static str],
    kind: TeeKind,
}

const SGX: Vector = Vector {
    quote: include_bytes!("../testdata/sgx_quote"),
    collateral: include_bytes!("../testdata/sgx_quote_collateral.json"),
    inside: "2025-06-20T00:00:00Z",
    next_update: "2025-07-19T10:56:11Z",
    status: "ConfigurationAndSWHardeningNeeded",
    advisories: &["INTEL-SA-00289", "INTEL-SA-00615"],
    kind: TeeKind::Sgx,
};

const TDX: Vector = Vector {
    quote: include_bytes!("../testdata/tdx_quote"),
    collateral: include_bytes!("../testdata/tdx_quote_collateral.json"),
    inside: "2025-06-20T00:00:00Z",
    next_update: "2025-07-19T10:16:03Z",
    status: "UpToDate",
    advisories: &[],
    kind: TeeKind::Tdx,
};

const TDX15: Vector = Vector {
    quote: include_bytes!("../testdata/tdx_quote_td15ex"),
    collateral: include_bytes!("../testdata/tdx_quote_td15ex_collateral.json"),
    inside: "2026-10-10T00:00:00Z",
    next_update: "2026-11-07T00:09:46Z",
    status: "UpToDate",
    advisories: &[],
    kind: TeeKind::Tdx,
};

fn at(text: &str) -> u64 {
    parse_rfc3339(text).unwrap()
}

fn collateral(vector: &Vector) -> Collateral {
    Collateral::from_json(vector.collateral).unwrap()
}

fn check(vector: &Vector, quote: &[u8], policy: &Policy) -> Result<Verified, AttestationError> {
    verify_quote(quote, &collateral(vector), at(vector.inside), policy)
}

#[test]
fn real_quotes_verify_inside_their_windows_with_the_listed_statuses() {
    for vector in [SGX, TDX, TDX15] {
        let verified = check(&vector, vector.quote, &Policy::default()).unwrap();
        assert_eq!(verified.kind, vector.kind);
        assert_eq!(verified.status, vector.status);
        assert_eq!(verified.advisories, vector.advisories);
        assert_eq!(verified.measurement.kind(), vector.kind);
        // Registrations lapse with the collateral: at the earlier of the TCB info's and the QE
        // identity's next update, and the quote still verifies just before.
        assert!(verified.expires_at <= at(vector.next_update) && verified.expires_at > at(vector.inside));
        assert_eq!(at(&verified.expires), verified.expires_at);
        let collateral = collateral(&vector);
        let late = verify_quote(vector.quote, &collateral, verified.expires_at - 1, &Policy::default());
        assert!(late.is_ok(), "{} {late:?}", verified.expires);
    }
    let sgx = check(&SGX, SGX.quote, &Policy::default()).unwrap();
    assert!(sgx.report_data.starts_with(b"Hello, world!"));
}

#[test]
fn times_outside_the_window_fail() {
    for vector in [SGX, TDX, TDX15] {
        let after = at(vector.next_update) + 1;
        let error = verify_quote(vector.quote, &collateral(&vector), after, &Policy::default()).unwrap_err();
        assert!(matches!(error, AttestationError::Verification(_)), "{error}");
        let long_before = at("2018-01-01T00:00:00Z");
        let error = verify_quote(vector.quote, &collateral(&vector), long_before, &Policy::default()).unwrap_err();
        assert!(matches!(error, AttestationError::Verification(_)), "{error}");
    }
}

/// Offsets (in the canonical quote) of bytes that must be covered: header fields, the measurement,
/// the report data, and the quote signature.
fn covered_offsets(vector: &Vector) -> Vec<(&'static str, usize)> {
    const HEADER: usize = 48;
    match vector.kind {
        TeeKind::Sgx => vec![
            ("header: version", 0),
            ("header: qe_svn", 8),
            ("header: user_data", 40),
            ("body: mr_enclave", HEADER + 64),
            ("body: mr_signer", HEADER + 128),
            ("body: isv_svn", HEADER + 258),
            ("body: report_data", HEADER + 320),
            ("body: report_data end", HEADER + 383),
            ("signature", HEADER + 384 + 4),
            ("signature end", HEADER + 384 + 4 + 63),
        ],
        TeeKind::Tdx => {
            // Quote v5 puts a 6-byte body descriptor before the report.
            let body = if vector.quote[0] == 5 { HEADER + 6 } else { HEADER };
            vec![
                ("header: version", 0),
                ("header: qe_svn", 8),
                ("header: user_data", 40),
                ("body: mr_td", body + 136),
                ("body: rtmr0", body + 328),
                ("body: report_data", body + 520),
                ("body: report_data end", body + 583),
            ]
        }
    }
}

#[test]
fn a_flipped_byte_of_header_body_or_signature_fails() {
    for vector in [SGX, TDX, TDX15] {
        for (what, offset) in covered_offsets(&vector) {
            let mut forged = vector.quote.to_vec();
            forged[offset] ^= 0x01;
            assert!(
                check(&vector, &forged, &Policy::default()).is_err(),
                "{what} (byte {offset}) flipped still verifies"
            );
        }
        // The quote signature of TDX quotes sits after the (version-dependent) body.
        let signature = body_end(&vector) + 4;
        let mut forged = vector.quote.to_vec();
        forged[signature] ^= 0x80;
        assert!(check(&vector, &forged, &Policy::default()).is_err(), "signature flipped still verifies");
    }
}

/// Where the report body ends: the auth data length follows.
fn body_end(vector: &Vector) -> usize {
    match (vector.kind, vector.quote[0]) {
        (TeeKind::Sgx, _) => 48 + 384,
        (TeeKind::Tdx, 4) => 48 + 584,
        // v5 TD 1.5 ex: descriptor, then the report of the size the descriptor gives.
        (TeeKind::Tdx, _) => 48 + 6 + u32::from_le_bytes(vector.quote[50..54].try_into().unwrap()) as usize,
    }
}

#[test]
fn zero_padding_is_stripped_and_other_trailing_bytes_refused() {
    // The shared TDX quote arrives with 70 zero bytes of padding, as fixed-size buffers do.
    let parsed = parse_quote(TDX.quote).unwrap();
    assert_eq!((parsed.bytes.len(), TDX.quote.len()), (4_936, 5_006));
    assert!(TDX.quote[4_936..].iter().all(|&byte| byte == 0));
    let verified = check(&TDX, TDX.quote, &Policy::default()).unwrap();
    assert_eq!(verified.quote, parsed.bytes, "only the canonical bytes are kept");
    // The canonical bytes alone verify to the same result.
    assert_eq!(check(&TDX, &parsed.bytes, &Policy::default()).unwrap(), verified);

    for vector in [SGX, TDX, TDX15] {
        let mut padded = vector.quote.to_vec();
        padded.extend([0u8; 100]);
        assert_eq!(
            check(&vector, &padded, &Policy::default()).unwrap().quote,
            parse_quote(vector.quote).unwrap().bytes
        );
        for trailing in [&[1u8][..], &[0, 0, 7], &[0xff; 4]] {
            let mut extended = vector.quote.to_vec();
            extended.extend(trailing);
            let error = check(&vector, &extended, &Policy::default()).unwrap_err();
            assert!(matches!(error, AttestationError::Quote(QuoteError::TrailingBytes { .. })), "{error}");
        }
    }
    // Truncated or oversized input says so.
    let error = parse_quote(&SGX.quote[..SGX.quote.len() - 1]).unwrap_err();
    assert!(matches!(error, QuoteError::Malformed(_)), "{error}");
    let error = parse_quote(&vec![0u8; quote::MAX_QUOTE_BYTES + 1]).unwrap_err();
    assert!(matches!(error, QuoteError::TooLarge { .. }), "{error}");
}

#[test]
fn the_policy_refuses_measurements_statuses_and_advisories() {
    for vector in [SGX, TDX, TDX15] {
        let measurement = parse_quote(vector.quote).unwrap().measurement;
        assert!(check(&vector, vector.quote, &Policy::allowing(vec![measurement])).is_ok());
        let mut other = measurement;
        match &mut other {
            Measurement::Sgx { isv_svn, .. } => *isv_svn = isv_svn.wrapping_add(1),
            Measurement::Tdx { rtmr3, .. } => rtmr3[0] ^= 1,
        }
        let error = check(&vector, vector.quote, &Policy::allowing(vec![other])).unwrap_err();
        assert_eq!(error, AttestationError::MeasurementNotAllowed(Box::new(measurement)));
        let error = check(&vector, vector.quote, &Policy::allowing(vec![])).unwrap_err();
        assert!(matches!(error, AttestationError::MeasurementNotAllowed(_)), "{error}");
    }
    let strict = Policy { allowed_statuses: vec!["UpToDate".into()], ..Policy::default() };
    let error = check(&SGX, SGX.quote, &strict).unwrap_err();
    assert!(
        matches!(&error, AttestationError::StatusRefused { status, .. } if status == "ConfigurationAndSWHardeningNeeded"),
        "{error}"
    );
    assert!(check(&TDX, TDX.quote, &strict).is_ok());
    let wary = Policy { refused_advisories: vec!["INTEL-SA-00615".into()], ..Policy::default() };
    let error = check(&SGX, SGX.quote, &wary).unwrap_err();
    assert_eq!(error, AttestationError::AdvisoryRefused("INTEL-SA-00615".into()));
}

#[test]
fn report_data_must_be_the_registration_hash() {
    let info = RegistrationInfo {
        signing_key: [1; 32],
        agreement_key: [2; 32],
        genesis: Hash([3; 32]),
        operator: AccountId([4; 32]),
    };
    for vector in [SGX, TDX, TDX15] {
        let error =
            verify_registration(vector.quote, &collateral(&vector), at(vector.inside), &Policy::default(), &info)
                .unwrap_err();
        assert!(matches!(error, AttestationError::ReportDataMismatch { .. }), "{error}");
        assert!(error.to_string().contains("does not match the registration info"));
    }
}

#[test]
fn bad_collateral_and_policy_files_say_what_is_wrong() {
    assert!(matches!(Collateral::from_json(b"{}"), Err(AttestationError::Collateral(_))));
    assert!(matches!(Collateral::from_json(&vec![b' '; 200_000]), Err(AttestationError::Collateral(_))));
    let round_trip = Collateral::from_json(&collateral(&SGX).to_json()).unwrap();
    assert_eq!(round_trip, collateral(&SGX));

    let text = r#"
        allowed_statuses = ["UpToDate"]
        refused_advisories = ["INTEL-SA-00615"]
        [[measurements]]
        kind = "sgx"
        mr_enclave = "0x0101010101010101010101010101010101010101010101010101010101010101"
        mr_signer = "0x0202020202020202020202020202020202020202020202020202020202020202"
        isv_prod_id = 1
        isv_svn = 2
    "#;
    let policy = Policy::from_toml(text).unwrap();
    assert_eq!(policy.allowed_statuses, vec!["UpToDate".to_owned()]);
    assert_eq!(
        policy.measurements,
        Some(vec![Measurement::Sgx { mr_enclave: [1; 32], mr_signer: [2; 32], isv_prod_id: 1, isv_svn: 2 }])
    );
    assert!(Policy::from_toml("surprise = 1").unwrap_err().to_string().contains("surprise"));
    assert!(Policy::from_toml("[[measurements]]\nkind = \"sgx\"\nmr_enclave = \"0x12\"").is_err());
}

mod platforms {
    use super::*;
    use std::path::PathBuf;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("veil-attestation-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn gramine_writes_report_data_reads_the_quote_and_derives_a_sealing_secret() {
        let root = temp_dir("gramine");
        std::fs::write(root.join("quote"), SGX.quote).unwrap();
        std::fs::create_dir_all(root.join("keys")).unwrap();
        std::fs::write(root.join("keys/_sgx_mrenclave"), [7u8; 16]).unwrap();
        let platform = GramineSgx::new(&root);
        assert_eq!(platform.quote(&[9; 64]).unwrap().unwrap(), SGX.quote);
        assert_eq!(std::fs::read(root.join("user_report_data")).unwrap(), vec![9u8; 64]);
        let sealing = platform.sealing().unwrap();
        assert_eq!(sealing.platform(), veil_crypto::SealingPlatform::Sgx);
        let secret = sealing.sealing_secret().unwrap();
        assert_eq!(secret.expose(), sealing.sealing_secret().unwrap().expose(), "stable");
        assert_ne!(secret.expose(), &[7u8; 32]);
        std::fs::write(root.join("keys/_sgx_mrenclave"), [7u8; 15]).unwrap();
        assert!(sealing.sealing_secret().is_err(), "a key of the wrong length is refused");
    }

    #[test]
    fn tdx_uses_a_configfs_report_entry_and_has_no_sealing_key() {
        let entry = temp_dir("tdx").join("veil");
        std::fs::create_dir_all(&entry).unwrap();
        std::fs::write(entry.join("outblob"), TDX.quote).unwrap();
        let platform = Tdx::new(&entry);
        assert_eq!(platform.quote(&[5; 64]).unwrap().unwrap(), TDX.quote);
        assert_eq!(std::fs::read(entry.join("inblob")).unwrap(), vec![5u8; 64]);
        assert!(platform.sealing().is_none());
        assert_eq!(platform.kind(), PlatformKind::Tdx);
    }

    #[test]
    fn software_has_no_quote_and_says_it_is_insecure() {
        let dir = temp_dir("software");
        let platform = InsecureSoftware::open(&dir.join("sealing.key")).unwrap();
        assert_eq!(platform.quote(&[0; 64]).unwrap(), None);
        assert!(!platform.sealing().unwrap().platform().is_secure());
        assert!(platform.kind().label().contains("INSECURE"));
    }
}

/// Issue 21: a quote from a debug enclave or trust domain (whose memory the host can read) is
/// refused before anything else of the policy, whatever its status and measurement. Intel signs
/// debug quotes only on debug-launched hardware, so no sample here is one: the policy runs on each
/// real sample as parsed, with its debug attribute set, as a debug launch would set it.
#[test]
fn a_debug_quote_is_refused_by_the_policy() {
    for vector in [SGX, TDX] {
        let mut parsed = parse_quote(vector.quote).unwrap();
        let advisories: Vec<String> = vector.advisories.iter().map(|id| (*id).to_owned()).collect();
        let policy = Policy {
            allowed_statuses: vec![vector.status.to_owned()],
            refused_advisories: Vec::new(),
            measurements: Some(vec![parsed.measurement]),
        };
        assert!(verify::check_policy(&parsed, vector.status, &advisories, &policy).is_ok(), "the sample itself passes");
        parsed.debug = true;
        let refused = verify::check_policy(&parsed, vector.status, &advisories, &policy).unwrap_err();
        assert!(matches!(refused, AttestationError::Debug(kind) if kind == vector.kind), "{refused}");
    }
}

/// The attack of issue 21 (a TDX host changes what the measurement does not cover): the same
/// image launched with another MRCONFIGID, owner, owner configuration or TD attributes is another
/// measurement. Each field is read from where the TD report keeps it, so an allowlist entry names
/// all of them.
#[test]
fn a_tdx_measurement_covers_the_config_id_the_owner_fields_and_the_attributes() {
    fn first_bytes(measurement: Measurement) -> [u8; 4] {
        let Measurement::Tdx { td_attributes, mr_config_id, mr_owner, mr_owner_config, .. } = measurement else {
            panic!("a TDX quote")
        };
        [td_attributes[0], mr_config_id[0], mr_owner[0], mr_owner_config[0]]
    }
    let original = parse_quote(TDX.quote).unwrap().measurement;
    // Offsets in a version-4 quote: the 48-byte header, then the TD report body.
    let fields = [
        ("td_attributes", 48 + 120),
        ("mr_config_id", 48 + 184),
        ("mr_owner", 48 + 232),
        ("mr_owner_config", 48 + 280),
    ];
    for (index, (name, offset)) in fields.into_iter().enumerate() {
        let mut raw = TDX.quote.to_vec();
        raw[offset] ^= 0x80;
        let changed = parse_quote(&raw).unwrap().measurement;
        assert_ne!(changed, original, "{name} is not part of the measurement");
        let mut expected = first_bytes(original);
        expected[index] ^= 0x80;
        assert_eq!(first_bytes(changed), expected, "{name} is read from its own bytes");
    }
}

/// The parser reads the debug attribute where each report keeps it: SGX ATTRIBUTES.DEBUG (bit 1
/// of the flags, at offset 96 of the quote: 48 of header, 48 into the report body) and TDX
/// TD_ATTRIBUTES.DEBUG (bit 0, at offset 168: 48 of header, then TEE_TCB_SVN, MRSEAM,
/// MRSIGNERSEAM and SEAM_ATTRIBUTES). The signatures then no longer verify, which is why the
/// policy test above sets the flag on the parsed quote.
#[test]
fn the_debug_attribute_is_read_where_each_report_keeps_it() {
    for (vector, offset, bit) in [(SGX, 96, 0x02), (TDX, 168, 0x01)] {
        assert!(!parse_quote(vector.quote).unwrap().debug);
        let mut raw = vector.quote.to_vec();
        raw[offset] |= bit;
        assert!(parse_quote(&raw).unwrap().debug, "{:?}", vector.kind);
    }
}
