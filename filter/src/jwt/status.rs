//! Why a token was refused: one enum whose messages are exactly Envoy's (`jwt_verify_lib`
//! `getStatusString`), because clients and tests compare the reply bodies.

/// The outcome of verifying one token, with Envoy's exact message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtStatus {
    /// No token where the provider looks.
    Missing,
    /// `nbf` is in the future (beyond the skew).
    NotYetValid,
    /// `exp` is in the past (beyond the skew), or missing when required.
    Expired,
    /// Not three non-empty sections separated by two dots.
    BadFormat,
    /// Header is not base64url.
    HeaderBadBase64,
    /// Header is not a JSON object.
    HeaderBadJson,
    /// `alg` missing or not a string.
    HeaderBadAlg,
    /// `alg` not one of the implemented algorithms (this includes `none`).
    HeaderNotImplementedAlg,
    /// `kid` is not a string.
    HeaderBadKid,
    /// Payload is not base64url.
    PayloadBadBase64,
    /// Payload is not a JSON object.
    PayloadBadJson,
    /// `iss` is not a string.
    IssNotString,
    /// `sub` is not a string.
    SubNotString,
    /// `iat` is not an integer.
    IatNotInteger,
    /// `iat` is out of range.
    IatOutOfRange,
    /// `nbf` is not an integer.
    NbfNotInteger,
    /// `nbf` is out of range.
    NbfOutOfRange,
    /// `exp` is not an integer.
    ExpNotInteger,
    /// `exp` is out of range.
    ExpOutOfRange,
    /// `jti` is not a string.
    JtiNotString,
    /// `aud` is not a string or a list of strings.
    AudNotString,
    /// Signature is not base64url.
    SignatureBadBase64,
    /// Ed25519 signature is not 64 bytes.
    Ed25519SignatureWrongLength,
    /// No provider accepts this `iss`.
    UnknownIssuer,
    /// `aud` does not meet the allowed audiences (403).
    AudienceNotAllowed,
    /// Bad signature (or subject / lifetime not allowed).
    VerificationFail,
    /// The JWKS has no key with the token's `kid`/`alg`.
    KidAlgMismatch,
    /// The JWKS has no usable key.
    JwksNoValidKeys,
    /// The JWKS could not be fetched in time.
    JwksFetchFail,
}

impl JwtStatus {
    /// Envoy's message for this status (the reply body).
    pub fn message(self) -> &'static str {
        match self {
            JwtStatus::Missing => "Jwt is missing",
            JwtStatus::NotYetValid => "Jwt not yet valid",
            JwtStatus::Expired => "Jwt is expired",
            JwtStatus::BadFormat => {
                "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
            }
            JwtStatus::HeaderBadBase64 => "Jwt header is an invalid Base64url encoded",
            JwtStatus::HeaderBadJson => "Jwt header is an invalid JSON",
            JwtStatus::HeaderBadAlg => "Jwt header [alg] field is required and must be a string",
            JwtStatus::HeaderNotImplementedAlg => "Jwt header [alg] is not supported",
            JwtStatus::HeaderBadKid => "Jwt header [kid] field is not a string",
            JwtStatus::PayloadBadBase64 => "Jwt payload is an invalid Base64url encoded",
            JwtStatus::PayloadBadJson => "Jwt payload is an invalid JSON",
            JwtStatus::IssNotString => "Jwt payload [iss] field is not a string",
            JwtStatus::SubNotString => "Jwt payload [sub] field is not a string",
            JwtStatus::IatNotInteger => "Jwt payload [iat] field is not an integer",
            JwtStatus::IatOutOfRange => "Jwt payload [iat] field is not a positive 64 bit integer",
            JwtStatus::NbfNotInteger => "Jwt payload [nbf] field is not an integer",
            JwtStatus::NbfOutOfRange => "Jwt payload [nbf] field is not a positive 64 bit integer",
            JwtStatus::ExpNotInteger => "Jwt payload [exp] field is not an integer",
            JwtStatus::ExpOutOfRange => "Jwt payload [exp] field is not a positive 64 bit integer",
            JwtStatus::JtiNotString => "Jwt payload [jti] field is not a string",
            JwtStatus::AudNotString => "Jwt payload [aud] field is not a string or string list",
            JwtStatus::SignatureBadBase64 => "Jwt signature is an invalid Base64url encoded",
            JwtStatus::Ed25519SignatureWrongLength => "Jwt ED25519 signature is wrong length",
            JwtStatus::UnknownIssuer => "Jwt issuer is not configured",
            JwtStatus::AudienceNotAllowed => "Audiences in Jwt are not allowed",
            JwtStatus::VerificationFail => "Jwt verification fails",
            JwtStatus::KidAlgMismatch => "Jwks doesn't have key to match kid or alg from Jwt",
            JwtStatus::JwksNoValidKeys => "Jwks doesn't have any valid public key",
            JwtStatus::JwksFetchFail => "Jwks remote fetch is failed",
        }
    }

    /// HTTP status Envoy uses: 403 only for an audience mismatch, else 401.
    pub fn http_status(self) -> u16 {
        if self == JwtStatus::AudienceNotAllowed {
            403
        } else {
            401
        }
    }

    /// Machine-readable reason for logs and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            JwtStatus::Missing => "jwt_missing",
            JwtStatus::Expired => "jwt_expired",
            JwtStatus::NotYetValid => "jwt_not_yet_valid",
            JwtStatus::UnknownIssuer => "jwt_unknown_issuer",
            JwtStatus::AudienceNotAllowed => "jwt_audience_not_allowed",
            JwtStatus::KidAlgMismatch => "jwt_unknown_key",
            JwtStatus::JwksFetchFail | JwtStatus::JwksNoValidKeys => "jwks_unavailable",
            JwtStatus::VerificationFail | JwtStatus::Ed25519SignatureWrongLength => {
                "jwt_verification_failed"
            }
            _ => "jwt_malformed",
        }
    }
}

impl std::fmt::Display for JwtStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}
