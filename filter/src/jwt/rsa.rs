//! RSA signatures (RS256/384/512 PKCS#1 v1.5, PS256/384/512 PSS with salt = hash length).
//!
//! On the proxy-wasm build (and natively) the math is ring's (BoringSSL's RSA, 32-bit limbs
//! in wasm): ~3.5× faster than jwt-simple's `rsa` crate in V8 (platform notes: 230 vs 821 µs
//! for RS256), which left too little of the 1 ms budget. ring needs a C compiler (clang) for
//! `wasm32-wasip1`. The wasm-bindgen build (`wasm32-unknown-unknown`) keeps jwt-simple, where
//! ring's random-number dependency does not build without a JS shim.
//!
//! Key acceptance is the same on both: jwt-simple's rules (2048..=4096-bit modulus, exponent
//! 2..2^33) plus an odd modulus and an odd exponent ≥ 3, which any valid RSA key has.

use crate::jwt::authenticator::Alg;

fn check(n: &[u8], e: &[u8]) -> Result<(), String> {
    let bad = || "Jwks RSA [n] or [e] field is missing or has a parse error".to_string();
    // jwt-simple's own checks (size limits, exponent range), so both builds accept the same keys.
    jwt_simple::prelude::RS256PublicKey::from_components(n, e).map_err(|_| bad())?;
    let odd = |b: &[u8]| b.last().is_some_and(|x| x & 1 == 1);
    let e_is_one = e.iter().rev().skip(1).all(|b| *b == 0) && e.last() == Some(&1);
    if !odd(n) || !odd(e) || e_is_one {
        return Err(bad());
    }
    Ok(())
}

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
mod backend {
    use super::Alg;
    use ring::signature::{self, RsaPublicKeyComponents};

    /// An RSA public key (big-endian modulus and exponent, leading zeros stripped).
    pub struct RsaKey {
        n: Vec<u8>,
        e: Vec<u8>,
    }

    impl RsaKey {
        /// A validated key.
        pub fn from_components(n: &[u8], e: &[u8]) -> Result<RsaKey, String> {
            super::check(n, e)?;
            Ok(RsaKey {
                n: n.to_vec(),
                e: e.to_vec(),
            })
        }

        /// Verify a compact token's signature for an RSA algorithm; None for other algorithms.
        pub fn verify(&self, alg: Alg, token: &str) -> Option<bool> {
            let params: &'static signature::RsaParameters = match alg {
                Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                Alg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                Alg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                Alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                Alg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                Alg::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
                _ => return None,
            };
            let Some((message, signature)) =
                crate::jwt::authenticator::signing_input_and_signature(token)
            else {
                return Some(false);
            };
            let key = RsaPublicKeyComponents {
                n: &self.n,
                e: &self.e,
            };
            Some(key.verify(params, message.as_bytes(), &signature).is_ok())
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod backend {
    use super::Alg;
    use jwt_simple::prelude::*;

    /// jwt-simple options that check the signature only: every claim check is the
    /// authenticator's, and the fixed artificial time keeps jwt-simple's own time checks from
    /// ever deciding. (jwt-simple still refuses a non-empty `crit` here, which the other
    /// builds and Envoy ignore.)
    fn signature_only_options() -> VerificationOptions {
        VerificationOptions {
            accept_future: true,
            artificial_time: Some(UnixTimeStamp::from_secs(0)),
            time_tolerance: Some(Duration::from_secs(0)),
            max_token_length: None,
            max_header_length: Some(usize::MAX),
            ..Default::default()
        }
    }

    /// An RSA public key as jwt-simple's key objects, one per algorithm.
    pub struct RsaKey {
        rs256: RS256PublicKey,
        rs384: RS384PublicKey,
        rs512: RS512PublicKey,
        ps256: PS256PublicKey,
        ps384: PS384PublicKey,
        ps512: PS512PublicKey,
    }

    impl RsaKey {
        /// A validated key.
        pub fn from_components(n: &[u8], e: &[u8]) -> Result<RsaKey, String> {
            super::check(n, e)?;
            let bad = |_| "Jwks RSA [n] or [e] field is missing or has a parse error".to_string();
            Ok(RsaKey {
                rs256: RS256PublicKey::from_components(n, e).map_err(bad)?,
                rs384: RS384PublicKey::from_components(n, e).map_err(bad)?,
                rs512: RS512PublicKey::from_components(n, e).map_err(bad)?,
                ps256: PS256PublicKey::from_components(n, e).map_err(bad)?,
                ps384: PS384PublicKey::from_components(n, e).map_err(bad)?,
                ps512: PS512PublicKey::from_components(n, e).map_err(bad)?,
            })
        }

        /// Verify a compact token's signature for an RSA algorithm; None for other algorithms.
        pub fn verify(&self, alg: Alg, token: &str) -> Option<bool> {
            let o = || Some(signature_only_options());
            let ok = match alg {
                Alg::RS256 => self.rs256.verify_token::<NoCustomClaims>(token, o()),
                Alg::RS384 => self.rs384.verify_token::<NoCustomClaims>(token, o()),
                Alg::RS512 => self.rs512.verify_token::<NoCustomClaims>(token, o()),
                Alg::PS256 => self.ps256.verify_token::<NoCustomClaims>(token, o()),
                Alg::PS384 => self.ps384.verify_token::<NoCustomClaims>(token, o()),
                Alg::PS512 => self.ps512.verify_token::<NoCustomClaims>(token, o()),
                _ => return None,
            };
            Some(ok.is_ok())
        }
    }
}

pub use backend::RsaKey;
