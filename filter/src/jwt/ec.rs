//! ECDSA verification for ES256 (P-256) and ES384 (P-384) with precomputed tables, because the
//! generic path (jwt-simple → `ecdsa` → a wNAF double-and-add over both points) costs ~1.4 ms for
//! ES384 in V8, over the 1 ms budget (BENCHMARKS.md, "JWT verification").
//!
//! A verification is `R = u1·G + u2·Q`. Both points are fixed for the life of a key, so each gets
//! a table of `d·2^(w·i)·P` (signed `w`-bit windows, `d` in 1..=2^(w-1)) in affine form: the
//! table for `G` once per VM, the one for `Q` when the JWKS loads. A verification is then only
//! mixed additions (no doublings): ~2·⌈(bits+1)/w⌉ of them. The field and point arithmetic is
//! the curve crate's (`p256`/`p384`, complete formulas); only the scalar recoding and the table
//! walk live here. Everything here handles public data (signature, message, public key), so the
//! variable-time walk leaks nothing secret.
//!
//! What is checked, as BoringSSL's `ECDSA_do_verify` (Envoy's `jwt_authn`) does: the signature
//! is exactly 2×32 / 2×48 bytes; `r` and `s` are in `[1, n-1]` (so `r = s = 0` and values `≥ n`
//! fail); high-S signatures are accepted (ECDSA has no low-S rule, and neither has Envoy); the
//! key is a point on the curve and not the identity (checked when the JWK is parsed); a result
//! at infinity fails. Proven against Wycheproof's ECDSA P-256/P-384 vectors
//! (`testdata/jwt/wycheproof/`).

/// Window width of the generator's table (one per VM and curve, built when the first key of
/// that curve loads): 8 bits, 128 points per window; P-384: 49 windows, 6272 points (~650 KiB),
/// 49 mixed additions per verification; P-256: 33 windows, ~300 KiB.
const W_GENERATOR: usize = 8;
/// Window width of a key's table (built per key when the JWKS loads, so kept smaller): 6 bits,
/// 32 points per window; P-384: 65 windows, 2080 points (~215 KiB), 65 additions; P-256:
/// 43 windows, ~100 KiB.
const W_KEY: usize = 6;
// Digits are `i16`; tables hold 2^(w-1) points per window, so keep windows small.
const _: () = assert!(W_GENERATOR <= 10 && W_KEY <= 10 && W_KEY >= 2);
/// Longest digit string: one window per bit of the largest scalar, plus the final carry.
const MAX_DIGITS: usize = 48 * 8 + 1;

macro_rules! curve_tables {
    ($modname:ident, $krate:ident, $digest:ty, $bytes:expr, $doc:literal) => {
        #[doc = $doc]
        pub mod $modname {
            use super::{MAX_DIGITS, W_GENERATOR, W_KEY};
            use sha2::Digest;
            use std::sync::OnceLock;
            use $krate::elliptic_curve::ff::PrimeField;
            use $krate::elliptic_curve::ops::Reduce;
            use $krate::elliptic_curve::point::AffineCoordinates;
            use $krate::elliptic_curve::{CurveGroup, Field, Group};
            use $krate::{AffinePoint, FieldBytes, ProjectivePoint, PublicKey, Scalar};

            /// Field and scalar size in bytes.
            pub const BYTES: usize = $bytes;

            /// Windows needed for a scalar of `8·BYTES` bits plus the recoding's final carry.
            const fn windows(w: usize) -> usize {
                (BYTES * 8 + 1).div_ceil(w)
            }

            /// `d·2^(w·i)·P` for every window `i` and `d` in `1..=2^(w-1)`, row by row.
            struct Table {
                w: usize,
                points: Vec<AffinePoint>,
            }

            impl Table {
                fn new(p: ProjectivePoint, w: usize) -> Table {
                    let half = 1 << (w - 1);
                    let mut proj = Vec::with_capacity(windows(w) * half);
                    let mut base = p;
                    for _ in 0..windows(w) {
                        let mut acc = base;
                        proj.push(acc);
                        for _ in 1..half {
                            acc += base;
                            proj.push(acc);
                        }
                        for _ in 0..w {
                            base = base.double();
                        }
                    }
                    let mut points = vec![AffinePoint::IDENTITY; proj.len()];
                    ProjectivePoint::batch_normalize(&proj, &mut points);
                    Table { w, points }
                }

                /// `acc += k·P`.
                fn mul_add(&self, k: &Scalar, acc: &mut ProjectivePoint) {
                    let half = 1usize << (self.w - 1);
                    let mut digits = [0i16; MAX_DIGITS];
                    let n = recode(k, self.w, &mut digits);
                    for (i, d) in digits.iter().take(n).enumerate() {
                        if *d == 0 {
                            continue;
                        }
                        let index = i * half + (d.unsigned_abs() as usize - 1);
                        if let Some(p) = self.points.get(index) {
                            if *d > 0 {
                                *acc += p;
                            } else {
                                *acc -= p;
                            }
                        }
                    }
                }
            }

            /// Signed `w`-bit digits of `k` into `out`, least significant first, returning how
            /// many: `k = Σ d_i·2^(w·i)` with `d_i` in `[-(2^(w-1)-1), 2^(w-1)]`.
            fn recode(k: &Scalar, w: usize, out: &mut [i16; MAX_DIGITS]) -> usize {
                let repr = k.to_repr();
                let be: &[u8] = repr.as_ref();
                let bit = |i: usize| -> u32 {
                    if i >= BYTES * 8 {
                        return 0;
                    }
                    be.get(BYTES - 1 - i / 8)
                        .map(|b| u32::from(b >> (i % 8)) & 1)
                        .unwrap_or(0)
                };
                let half = 1u32 << (w - 1);
                let n = windows(w);
                let mut carry = 0u32;
                for (i, digit) in out.iter_mut().take(n).enumerate() {
                    let mut v = carry;
                    for b in 0..w {
                        v += bit(i * w + b) << b;
                    }
                    if v > half {
                        *digit = (v as i32 - (1i32 << w)) as i16;
                        carry = 1;
                    } else {
                        *digit = v as i16;
                        carry = 0;
                    }
                }
                n
            }

            fn generator_table() -> &'static Table {
                static G: OnceLock<Table> = OnceLock::new();
                G.get_or_init(|| Table::new(ProjectivePoint::generator(), W_GENERATOR))
            }

            fn scalar(bytes: &[u8]) -> Option<Scalar> {
                let fb = FieldBytes::try_from(bytes).ok()?;
                let s: Option<Scalar> = Scalar::from_repr(fb).into();
                s.filter(|s| !bool::from(Field::is_zero(s)))
            }

            /// A verification key with its table (built once, when the JWK is parsed).
            pub struct VerifyingKey {
                table: Table,
            }

            impl VerifyingKey {
                /// From the uncompressed SEC1 point `04 || x || y`; None when it is not a point
                /// of the curve (or the identity).
                pub fn from_sec1(sec1: &[u8]) -> Option<VerifyingKey> {
                    let pk = PublicKey::from_sec1_bytes(sec1).ok()?;
                    // The generator's table is shared by every key: build it now, at load
                    // time, rather than in the first request.
                    let _ = generator_table();
                    Some(VerifyingKey {
                        table: Table::new(ProjectivePoint::from(*pk.as_affine()), W_KEY),
                    })
                }

                /// Verify a JWS ECDSA signature (`r || s`, fixed size) over `message`.
                pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
                    let digest = <$digest>::digest(message);
                    self.verify_digest(&digest, signature)
                }

                /// Verify over a digest of exactly `BYTES` bytes.
                pub fn verify_digest(&self, digest: &[u8], signature: &[u8]) -> bool {
                    if signature.len() != 2 * BYTES || digest.len() != BYTES {
                        return false;
                    }
                    let (rb, sb) = signature.split_at(BYTES);
                    let (Some(r), Some(s)) = (scalar(rb), scalar(sb)) else {
                        return false;
                    };
                    let Ok(fb) = FieldBytes::try_from(digest) else {
                        return false;
                    };
                    let e = <Scalar as Reduce<FieldBytes>>::reduce(&fb);
                    let Some(w) = Option::<Scalar>::from(s.invert_vartime()) else {
                        return false;
                    };
                    let mut acc = ProjectivePoint::IDENTITY;
                    generator_table().mul_add(&(e * w), &mut acc);
                    self.table.mul_add(&(r * w), &mut acc);
                    let point = acc.to_affine();
                    if bool::from(point.is_identity()) {
                        return false;
                    }
                    <Scalar as Reduce<FieldBytes>>::reduce(&point.x()) == r
                }
            }

            #[cfg(test)]
            mod tests {
                use super::*;

                #[test]
                fn recoding_adds_up() {
                    for seed in 1u64..200 {
                        let k = Scalar::from(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                            * Scalar::from(seed).square().square()
                            - Scalar::from(seed);
                        for w in [W_KEY, W_GENERATOR, 2, 3, 5, 7] {
                            let mut digits = [0i16; MAX_DIGITS];
                            let n = recode(&k, w, &mut digits);
                            let mut sum = Scalar::ZERO;
                            let mut pow = Scalar::ONE;
                            for d in &digits[..n] {
                                let mag = Scalar::from(u64::from(d.unsigned_abs()));
                                sum += if *d < 0 { -(mag * pow) } else { mag * pow };
                                pow *= Scalar::from(1u64 << w);
                            }
                            assert_eq!(sum, k, "seed {seed}, w {w}");
                            assert!(digits
                                .iter()
                                .all(|d| d.unsigned_abs() as usize <= 1 << (w - 1)));
                        }
                    }
                    let minus_one = -Scalar::ONE;
                    let mut acc = ProjectivePoint::IDENTITY;
                    generator_table().mul_add(&minus_one, &mut acc);
                    assert_eq!(acc, -ProjectivePoint::generator());
                }

                #[test]
                fn table_multiplication_matches_the_curve_crate() {
                    let q = ProjectivePoint::generator() * Scalar::from(987_654_321u64);
                    let t = Table::new(q, W_KEY);
                    for seed in [1u64, 2, 3, 0xffff_ffff_ffff_ffff] {
                        let k = -Scalar::from(seed) * Scalar::from(seed.wrapping_add(7)).square();
                        let mut acc = ProjectivePoint::IDENTITY;
                        t.mul_add(&k, &mut acc);
                        assert_eq!(acc, q * k);
                    }
                }
            }
        }
    };
}

curve_tables!(p256, p256, sha2::Sha256, 32, "ES256: P-256 with SHA-256.");
curve_tables!(p384, p384, sha2::Sha384, 48, "ES384: P-384 with SHA-384.");

#[cfg(test)]
mod tests {
    use super::{p256 as ours256, p384 as ours384};

    fn hex(s: &str) -> Vec<u8> {
        if s == "-" {
            return Vec::new();
        }
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    /// Wycheproof ECDSA P-384/SHA-384 (P1363 encoding), every vector in the committed file.
    #[test]
    fn wycheproof_p384() {
        let text = include_str!("../../../testdata/jwt/wycheproof/ecdsa_p384_sha384_p1363.txt");
        const N: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973";
        const N1: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52972";
        const N2: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52974";
        const P: &str = "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff";
        const P1: &str = "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff000000000000000100000000";
        let small = |v: u8| format!("{:0>96}", format!("{v:02x}"));
        let special = [
            small(0),
            small(1),
            N.into(),
            N1.into(),
            N2.into(),
            P.into(),
            P1.into(),
        ];
        let mut key: Option<ours384::VerifyingKey> = None;
        let (mut valid, mut invalid, mut ids) = (0, 0, std::collections::BTreeSet::new());
        let mut check =
            |key: &ours384::VerifyingKey, id: u32, expect: &str, msg: &[u8], sig: &[u8]| {
                let ok = key.verify(msg, sig);
                assert_eq!(ok, expect == "valid", "tcId {id}");
                if ok {
                    valid += 1
                } else {
                    invalid += 1
                }
                assert!(ids.insert(id), "tcId {id} twice");
            };
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let f: Vec<&str> = line.split(' ').collect();
            match f[0] {
                "key" => key = Some(ours384::VerifyingKey::from_sec1(&hex(f[1])).unwrap()),
                "grid" => {
                    let first: u32 = f[1].parse().unwrap();
                    let k = key.as_ref().unwrap();
                    for (i, r) in special.iter().enumerate() {
                        for (j, s) in special.iter().enumerate() {
                            let id = first + (i * special.len() + j) as u32;
                            check(k, id, f[2], &hex(f[3]), &hex(&format!("{r}{s}")));
                        }
                    }
                }
                id => {
                    let k = key.as_ref().unwrap();
                    check(k, id.parse().unwrap(), f[1], &hex(f[2]), &hex(f[3]));
                }
            }
        }
        println!("wycheproof P-384: {valid} valid, {invalid} invalid vectors");
        assert_eq!(ids.len(), 270, "every tcId of the source file, once");
        assert_eq!(ids.iter().copied().max(), Some(270));
    }

    /// Against the curve crates' own ECDSA (what jwt-simple uses): random keys and messages,
    /// valid signatures, their high-S twins (accepted by both, as by BoringSSL), and
    /// one-bit changes of message or signature (refused by both).
    #[test]
    fn agrees_with_the_ecdsa_crates() {
        use ::p256::elliptic_curve::sec1::ToSec1Point;
        use ::p256::elliptic_curve::Generate;
        macro_rules! differential {
            ($krate:ident, $ours:ident, $digest:ty) => {{
                use ::$krate::ecdsa::signature::{Signer, Verifier};
                use ::$krate::ecdsa::{Signature, SigningKey};
                use ::$krate::elliptic_curve::PrimeField;
                for round in 0..24u8 {
                    let sk = SigningKey::generate();
                    let vk = sk.verifying_key();
                    let sec1 = vk.as_affine().to_sec1_point(false);
                    let ours = $ours::VerifyingKey::from_sec1(sec1.as_bytes()).unwrap();
                    let msg = vec![round; usize::from(round) * 7];
                    let sig: Signature = sk.sign(&msg);
                    let bytes = sig.to_bytes().to_vec();
                    assert!(ours.verify(&msg, &bytes));
                    assert!(vk.verify(&msg, &sig).is_ok());
                    let (r, s) = sig.split_scalars();
                    let high = Signature::from_scalars((*r).to_repr(), (-*s).to_repr()).unwrap();
                    assert!(ours.verify(&msg, &high.to_bytes()), "high-S accepted");
                    assert!(vk.verify(&msg, &high).is_ok());
                    for bit in [0usize, 7, 100, bytes.len() * 8 - 1] {
                        let mut bad = bytes.clone();
                        bad[bit / 8] ^= 1 << (bit % 8);
                        let reference = Signature::from_slice(&bad)
                            .map(|s| vk.verify(&msg, &s).is_ok())
                            .unwrap_or(false);
                        assert_eq!(ours.verify(&msg, &bad), reference);
                        assert!(!reference);
                    }
                    let mut other = msg.clone();
                    other.push(1);
                    assert!(!ours.verify(&other, &bytes));
                    assert!(!ours.verify(&msg, &bytes[1..]), "short signature");
                    let mut long = bytes.clone();
                    long.push(0);
                    assert!(!ours.verify(&msg, &long), "long signature");
                }
            }};
        }
        differential!(p256, ours256, sha2::Sha256);
        differential!(p384, ours384, sha2::Sha384);
        // Points off the curve and the identity are refused at load.
        let mut bad = vec![4u8];
        bad.extend_from_slice(&[1u8; 64]);
        assert!(ours256::VerifyingKey::from_sec1(&bad).is_none());
        assert!(ours384::VerifyingKey::from_sec1(&[0u8]).is_none());
    }
}
