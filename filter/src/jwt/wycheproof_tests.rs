//! Wycheproof's JSON Web Signature vectors
//! (`testdata/jwt/wycheproof/json_web_signature_test.json`) through the production JWS path:
//! `parse_jws` (structure, header, base64url) and `verify_signature` (key selection and the
//! signature), the same calls the engine makes for every token.
//!
//! The vectors' payloads are not claim sets (`foo`, `Test`), so they are checked below the
//! claims layer; through the whole engine every one of them is refused, the valid ones with
//! `Jwt payload is an invalid JSON`, as Envoy does (a JWT's payload must be a JSON object).

use super::authenticator::{parse, parse_jws, verify_signature};
use super::jwks::Jwks;
use super::status::JwtStatus;
use serde_json::Value;
use std::collections::BTreeMap;

/// Vectors where our answer differs from the file's, each for a stated reason. Anything else
/// that differs fails the test.
const EXCEPTIONS: &[(u64, &str)] = &[
    // The stored `jws` of these two "invalid" cases is byte-for-byte the valid tcId 357 (the
    // padding change they describe is not in the string); a correct verifier accepts them.
    (367, "identical to the valid tcId 357"),
    (370, "identical to the valid tcId 357"),
    // A '?' inserted into the header or payload is marked valid (the MAC covers the ASCII
    // signing input), but the part is then not base64url, which Envoy refuses
    // (`Jwt header is an invalid Base64url encoded`); so do we.
    (372, "'?' in the header is not base64url"),
    (373, "'?' in the payload is not base64url"),
    // Valid signatures over an empty payload: a JWT's payload is a claims object, so an empty
    // part is refused as malformed, as an empty header or signature is.
    (259, "empty payload"),
    (264, "empty payload"),
    (268, "empty payload"),
    (272, "empty payload"),
    (320, "empty payload"),
    (325, "empty payload"),
    // RFC 7520 figure 20 is signed with PS384, but the group's key pins `alg: PS256`: a key
    // whose pinned alg differs from the token's is not selected (Envoy's rule), so the answer
    // is `Jwks doesn't have key to match kid or alg from Jwt`.
    (346, "key pins PS256, token says PS384"),
    (350, "key pins PS256, token says PS384"),
];

/// Groups we cannot load a key for: P-521 (ES512) is not an algorithm the filter supports.
fn unsupported(key: &Value) -> bool {
    key["crv"] == "P-521"
}

/// The outcome of one vector on the production path.
fn verdict(token: &str, jwks: &Jwks) -> Result<(), JwtStatus> {
    let jws = parse_jws(token)?;
    verify_signature(token, jws.alg, jws.kid.as_deref(), jwks)
}

#[test]
fn wycheproof_json_web_signature_vectors() {
    let doc: Value = serde_json::from_str(include_str!(
        "../../../testdata/jwt/wycheproof/json_web_signature_test.json"
    ))
    .unwrap();
    let exceptions: BTreeMap<u64, &str> = EXCEPTIONS.iter().copied().collect();
    let (mut checked, mut valid_accepted, mut skipped) = (0, 0, 0);
    let mut mismatches = Vec::new();
    let mut statuses: BTreeMap<&'static str, usize> = BTreeMap::new();
    for group in doc["testGroups"].as_array().unwrap() {
        let key = group.get("public").unwrap_or(&group["private"]);
        let tests = group["tests"].as_array().unwrap();
        if unsupported(key) {
            skipped += tests.len();
            continue;
        }
        let jwks = Jwks::parse(&serde_json::json!({"keys": [key]}).to_string())
            .unwrap_or_else(|e| panic!("group {}: {}", group["comment"], e.message()));
        for t in tests {
            let id = t["tcId"].as_u64().unwrap();
            let token = t["jws"].as_str().unwrap();
            let expect_valid = t["result"] == "valid";
            let got = verdict(token, &jwks);
            if let Err(s) = got {
                *statuses.entry(s.message()).or_default() += 1;
            }
            if got.is_ok() != expect_valid && !exceptions.contains_key(&id) {
                mismatches.push(format!("tcId {id} ({}): {got:?}", t["comment"]));
            }
            if got.is_ok() && expect_valid {
                valid_accepted += 1;
                // Through the engine's full parse the payload must be a claims object.
                assert_eq!(parse(token).err(), Some(JwtStatus::PayloadBadJson), "{id}");
            }
            checked += 1;
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    println!(
        "wycheproof JWS: {checked} vectors checked ({valid_accepted} valid accepted, {} \
         exceptions), {skipped} skipped (P-521); refusals: {statuses:?}",
        EXCEPTIONS.len()
    );
    assert_eq!(
        checked + skipped,
        doc["numberOfTests"].as_u64().unwrap() as usize
    );
    assert_eq!(skipped, 2);
    assert!(valid_accepted >= 10, "{valid_accepted}");
}
