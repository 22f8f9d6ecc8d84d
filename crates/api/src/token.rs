//! Tokens: bearer JWTs checked into the [`Principal`] a request acts as, and the roles a token may
//! carry. Nothing here knows HTTP: [`crate::auth`] takes the token from the request.
//!
//! Tokens are checked with `jsonwebtoken` against configured public keys (`EGOV_JWT_PUBLIC_KEYS`:
//! PEM files and/or JWKS files). Each key admits exactly one algorithm, fixed by the key's type
//! (RSA -> RS256, EC P-256 -> ES256): a token naming any other algorithm is refused before its
//! signature is looked at, so `alg: none` and HS256-signed-with-the-public-key tokens never pass.
//! `exp`, `nbf`, `iss` and `aud` are checked (60 s leeway for clocks).
//!
//! Without configured keys the server runs in development mode: it trusts an ES256 key kept beside
//! the data directory (created on first use) and `egov token` signs tokens with it.

mod dev_key;
mod keys;

use std::fmt;

use domain::{Actor, Iin, SignIn, SignedIn};
use jsonwebtoken::{decode, decode_header, Algorithm, Validation};
use serde::{Deserialize, Serialize};

pub use dev_key::DevKey;
pub use keys::{KeyError, VerifyingKey};

/// The roles a token may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A citizen on the portal; the subject is the IIN.
    Citizen,
    /// A service-centre operator; the subject is the operator's id.
    Operator,
    Auditor,
    Analyst,
    /// A medical organisation's user (social-status check).
    Medical,
    /// A witness of the log (`egov witness`, another organisation): tree heads, leaf hashes,
    /// consistency proofs and its cosignatures, nothing of any citizen's data.
    Witness,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Citizen => "citizen",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
            Role::Analyst => "analyst",
            Role::Medical => "medical",
            Role::Witness => "witness",
        })
    }
}

/// The claims of an egov token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The organisation (a service centre, a medical organisation, an agency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
}

/// Who a request acts as, from a checked token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub role: Role,
    pub subject: String,
    pub organisation: Option<String>,
    /// The citizen's IIN, for the citizen role.
    pub iin: Option<Iin>,
}

impl Principal {
    /// The actor recorded on events this principal causes.
    pub fn actor(&self) -> Actor {
        match (&self.iin, self.role) {
            (Some(iin), _) => Actor::Citizen { iin: iin.clone() },
            (None, _) => Actor::Operator {
                id: format!("{}:{}", self.role, self.subject),
            },
        }
    }

    /// The natural person the principal is, by IIN: a citizen; a medical organisation's user, who
    /// logs in with their own EDS and so is named by their IIN. Nobody for the other roles.
    pub fn person(&self) -> Option<Iin> {
        match self.role {
            Role::Citizen => self.iin.clone(),
            Role::Medical => Iin::parse(&self.subject).ok(),
            Role::Operator | Role::Auditor | Role::Analyst | Role::Witness => None,
        }
    }

    /// The person who files and signs on the portal as this principal, and how they are signed
    /// in: as a citizen themself, or as a medical organisation's user (naming the organisation).
    ///
    /// # Errors
    /// [`Forbidden`] (403) for the other roles, and for a principal not named by an IIN.
    pub fn signer(&self) -> Result<(Iin, SignedIn<'_>), Forbidden> {
        let forbidden = Forbidden { role: self.role };
        let through = match self.role {
            Role::Citizen => SignedIn::CITIZEN,
            Role::Medical => SignedIn {
                sign_in: SignIn::MedicalOrganisation,
                organisation: self.organisation.as_deref(),
            },
            Role::Operator | Role::Auditor | Role::Analyst | Role::Witness => {
                return Err(forbidden)
            }
        };
        Ok((self.person().ok_or(forbidden)?, through))
    }

    /// Refuses unless the principal has one of `roles`.
    ///
    /// # Errors
    /// [`Forbidden`] (403) naming the principal's role.
    pub fn require(&self, roles: &[Role]) -> Result<(), Forbidden> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(Forbidden { role: self.role })
        }
    }
}

/// A principal whose role may not do what it asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the role {role} may not do this")]
pub struct Forbidden {
    pub role: Role,
}

/// Why a token was refused; each answers 401 with its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no bearer token")]
    Missing,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token is longer than any egov token")]
    TooLong,
    #[error("the token's algorithm is not the one its key admits")]
    Algorithm,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued for another issuer or audience")]
    WrongAudience,
    #[error("the token's subject is not valid for its role")]
    Subject,
}

impl TokenError {
    pub const fn code(self) -> &'static str {
        match self {
            TokenError::Missing => "token-missing",
            TokenError::Malformed => "token-malformed",
            TokenError::TooLong => "token-too-long",
            TokenError::Algorithm => "token-algorithm",
            TokenError::Signature => "token-signature",
            TokenError::Expired => "token-expired",
            TokenError::NotYetValid => "token-not-yet-valid",
            TokenError::WrongAudience => "token-audience",
            TokenError::Subject => "token-subject",
        }
    }
}

/// The longest bearer token looked at. Tokens of egov's issuers are well under 1 KiB; a longer
/// one is refused unread: not hashed, decoded or remembered.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// The longest `sub` a token may carry: it becomes the id of the actor recorded on events
/// (`<role>:<sub>`, at most 128 characters), which must read back.
const MAX_SUBJECT_BYTES: usize = 100;

/// The longest `org` a token may carry.
const MAX_CLAIM_BYTES: usize = 200;

/// A token as the caches know it: its SHA-256, so that an entry costs the same whatever the
/// token's length.
type TokenDigest = [u8; 32];

/// Checks tokens against the configured keys.
///
/// A signature check costs far more than the rest of a status read, and portal clients poll with
/// the same token all day, so tokens that passed are remembered until their `exp`; only the time
/// is checked again on a hit. Both caches are keyed by the token's digest and bounded by bytes
/// ([`REMEMBERED_BYTES`] each), so no flood of tokens, good or junk, grows memory past them.
pub struct Authenticator {
    keys: Vec<VerifyingKey>,
    issuer: String,
    audience: String,
    verified: quick_cache::sync::Cache<TokenDigest, (Principal, i64), PrincipalBytes>,
    /// Tokens refused lately, so that a client resending a bad token (or someone flooding with
    /// one) costs a lookup, not a signature check. Kept a minute.
    refused: quick_cache::sync::Cache<TokenDigest, (TokenError, std::time::Instant), EntryBytes>,
}

/// How long a refused token is remembered.
const REFUSED_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// The bytes each of the two token caches may hold.
pub const REMEMBERED_BYTES: u64 = 16 * 1024 * 1024;

/// What one cache entry costs beside its strings: the digest, the value, the cache's own
/// bookkeeping (a generous estimate).
const ENTRY_OVERHEAD: u64 = 128;

/// Weighs a remembered refusal: fixed size.
#[derive(Clone)]
struct EntryBytes;

impl quick_cache::Weighter<TokenDigest, (TokenError, std::time::Instant)> for EntryBytes {
    fn weight(&self, _: &TokenDigest, _: &(TokenError, std::time::Instant)) -> u64 {
        ENTRY_OVERHEAD
    }
}

/// Weighs a remembered principal by its strings.
#[derive(Clone)]
struct PrincipalBytes;

impl quick_cache::Weighter<TokenDigest, (Principal, i64)> for PrincipalBytes {
    fn weight(&self, _: &TokenDigest, (principal, _): &(Principal, i64)) -> u64 {
        let strings =
            principal.subject.len() + principal.organisation.as_ref().map_or(0, String::len);
        ENTRY_OVERHEAD + strings as u64
    }
}

impl Authenticator {
    pub fn new(keys: Vec<VerifyingKey>, issuer: String, audience: String) -> Self {
        Self::remembering(keys, issuer, audience, REMEMBERED_BYTES)
    }

    /// As [`Authenticator::new`], each cache holding at most `bytes`.
    fn remembering(keys: Vec<VerifyingKey>, issuer: String, audience: String, bytes: u64) -> Self {
        let entries = usize::try_from(bytes / ENTRY_OVERHEAD).unwrap_or(usize::MAX);
        Self {
            keys,
            issuer,
            audience,
            verified: quick_cache::sync::Cache::with_weighter(entries, bytes, PrincipalBytes),
            refused: quick_cache::sync::Cache::with_weighter(entries, bytes, EntryBytes),
        }
    }

    /// The bytes the token caches hold now (verified, refused), by their weighers' estimate.
    pub fn remembered_bytes(&self) -> (u64, u64) {
        (self.verified.weight(), self.refused.weight())
    }

    /// The principal of a bearer token.
    ///
    /// # Errors
    /// [`TokenError`] naming why the token is refused.
    pub fn authenticate(&self, token: &str) -> Result<Principal, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLong);
        }
        let digest = openssl::sha::sha256(token.as_bytes());
        if let Some((principal, exp)) = self.verified.get(&digest) {
            // The same leeway as the full check.
            return if chrono::Utc::now().timestamp() <= exp.saturating_add(60) {
                Ok(principal)
            } else {
                self.verified.remove(&digest);
                Err(TokenError::Expired)
            };
        }
        if let Some((error, at)) = self.refused.get(&digest) {
            if at.elapsed() < REFUSED_FOR {
                return Err(error);
            }
        }
        match self.verify(token) {
            Ok((principal, exp)) => {
                self.verified.insert(digest, (principal.clone(), exp));
                Ok(principal)
            }
            Err(error) => {
                // Only refusals that time cannot cure; a token that is not valid yet may become so.
                if error != TokenError::NotYetValid {
                    self.refused
                        .insert(digest, (error, std::time::Instant::now()));
                }
                Err(error)
            }
        }
    }

    fn verify(&self, token: &str) -> Result<(Principal, i64), TokenError> {
        let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
        let candidates: Vec<&VerifyingKey> = self
            .keys
            .iter()
            .filter(|k| header.kid.is_none() || k.kid.is_none() || k.kid == header.kid)
            .filter(|k| k.algorithm == header.alg)
            .collect();
        if candidates.is_empty() {
            return Err(TokenError::Algorithm);
        }
        let mut last = TokenError::Signature;
        for key in candidates {
            let mut validation = Validation::new(key.algorithm);
            validation.algorithms = vec![key.algorithm];
            validation.leeway = 60;
            validation.validate_nbf = true;
            validation.set_issuer(&[&self.issuer]);
            validation.set_audience(&[&self.audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            match decode::<Claims>(token, &key.key, &validation) {
                Ok(data) => {
                    let exp = data.claims.exp;
                    return principal(data.claims).map(|p| (p, exp));
                }
                Err(error) => {
                    use jsonwebtoken::errors::ErrorKind;
                    last = match error.kind() {
                        ErrorKind::InvalidSignature => TokenError::Signature,
                        ErrorKind::ExpiredSignature => return Err(TokenError::Expired),
                        ErrorKind::ImmatureSignature => return Err(TokenError::NotYetValid),
                        ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => {
                            return Err(TokenError::WrongAudience)
                        }
                        ErrorKind::InvalidAlgorithm => TokenError::Algorithm,
                        ErrorKind::Json(_) | ErrorKind::MissingRequiredClaim(_) => {
                            TokenError::Malformed
                        }
                        _ => TokenError::Signature,
                    };
                }
            }
        }
        Err(last)
    }
}

fn principal(claims: Claims) -> Result<Principal, TokenError> {
    let iin = match claims.role {
        Role::Citizen => Some(Iin::parse(&claims.sub).map_err(|_| TokenError::Subject)?),
        _ => None,
    };
    // Both end up in events and logs: plain text of bounded length only.
    let plain = |text: &str, max: usize| text.len() <= max && !text.chars().any(char::is_control);
    let org_ok = claims
        .org
        .as_deref()
        .is_none_or(|o| plain(o, MAX_CLAIM_BYTES));
    if claims.sub.is_empty() || !plain(&claims.sub, MAX_SUBJECT_BYTES) || !org_ok {
        return Err(TokenError::Subject);
    }
    Ok(Principal {
        role: claims.role,
        subject: claims.sub,
        organisation: claims.org,
        iin,
    })
}

/// The algorithm a key admits, by its type.
pub(crate) fn algorithm_of(
    pkey: &openssl::pkey::PKeyRef<openssl::pkey::Public>,
) -> Option<Algorithm> {
    use openssl::nid::Nid;
    use openssl::pkey::Id;
    match pkey.id() {
        Id::RSA => Some(Algorithm::RS256),
        Id::EC => {
            let curve = pkey.ec_key().ok()?.group().curve_name()?;
            (curve == Nid::X9_62_PRIME256V1).then_some(Algorithm::ES256)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> (tempfile::TempDir, DevKey, Authenticator) {
        let dir = tempfile::tempdir().expect("dir");
        let key = DevKey::load_or_create(&dir.path().join("k.pem")).expect("key");
        let auth = Authenticator::new(
            vec![key.verifying_key().expect("public key")],
            "iss".into(),
            "aud".into(),
        );
        (dir, key, auth)
    }

    fn sha(token: &str) -> TokenDigest {
        openssl::sha::sha256(token.as_bytes())
    }

    fn claims(exp_in: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: "900101300007".into(),
            role: Role::Citizen,
            iss: "iss".into(),
            aud: "aud".into(),
            exp: now + exp_in,
            nbf: None,
            iat: None,
            org: None,
        }
    }

    #[test]
    fn a_remembered_token_is_refused_once_it_expires() {
        let (_dir, key, auth) = signer();
        let token = key.sign(&claims(3600)).expect("sign");
        let principal = auth.authenticate(&token).expect("valid");
        assert_eq!(principal.role, Role::Citizen);
        // As if the hour had passed: the remembered entry's expiry is checked on every use.
        let expired = chrono::Utc::now().timestamp() - 61;
        let digest = openssl::sha::sha256(token.as_bytes());
        auth.verified.insert(digest, (principal, expired));
        assert_eq!(auth.authenticate(&token).err(), Some(TokenError::Expired));
    }

    #[test]
    fn a_refused_token_is_answered_from_memory_and_a_good_one_is_not_refused() {
        let (_dir, key, auth) = signer();
        let (_other_dir, other, _) = signer();
        let forged = other.sign(&claims(3600)).expect("sign");
        assert_eq!(
            auth.authenticate(&forged).err(),
            Some(TokenError::Signature)
        );
        assert!(
            auth.refused.get(&sha(&forged)).is_some(),
            "the refusal is remembered"
        );
        assert_eq!(
            auth.authenticate(&forged).err(),
            Some(TokenError::Signature)
        );
        let good = key.sign(&claims(3600)).expect("sign");
        assert!(auth.authenticate(&good).is_ok());
        assert!(auth.refused.get(&sha(&good)).is_none());
    }

    #[test]
    fn a_token_not_valid_yet_is_not_remembered_as_refused() {
        let (_dir, key, auth) = signer();
        let mut early = claims(3600);
        early.nbf = Some(chrono::Utc::now().timestamp() + 600);
        let token = key.sign(&early).expect("sign");
        assert_eq!(
            auth.authenticate(&token).err(),
            Some(TokenError::NotYetValid)
        );
        assert!(auth.refused.get(&sha(&token)).is_none());
    }

    #[test]
    fn a_flood_of_distinct_junk_tokens_is_remembered_within_a_fixed_number_of_bytes() {
        let (_dir, key, _) = signer();
        let bytes = 1024 * 1024;
        let keys = vec![key.verifying_key().expect("public key")];
        let auth = Authenticator::remembering(keys, "iss".into(), "aud".into(), bytes);
        // Twice as many distinct junk tokens, each as long as a token may be, as the cache holds.
        let base = "x".repeat(MAX_TOKEN_BYTES - 20);
        for i in 0..(bytes / ENTRY_OVERHEAD) * 2 {
            let junk = format!("{base}{i:020}");
            assert_eq!(auth.authenticate(&junk).err(), Some(TokenError::Malformed));
        }
        let (verified, refused) = auth.remembered_bytes();
        assert_eq!(verified, 0);
        assert!(refused <= bytes, "{refused} bytes remembered");
        assert!(refused > bytes / 2, "refusals are remembered: {refused}");
    }

    #[test]
    fn an_oversized_token_is_refused_unread_and_not_remembered() {
        let (_dir, _key, auth) = signer();
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(auth.authenticate(&huge).err(), Some(TokenError::TooLong));
        assert_eq!(auth.remembered_bytes(), (0, 0));
    }

    #[test]
    fn a_subject_that_could_not_be_recorded_as_an_actor_is_refused() {
        let (_dir, key, auth) = signer();
        let too_long = "d".repeat(MAX_SUBJECT_BYTES + 1);
        for sub in [too_long.as_str(), "doctor\u{0}1", "doctor\n1"] {
            let mut medical = claims(3600);
            medical.role = Role::Medical;
            medical.sub = sub.to_owned();
            let token = key.sign(&medical).expect("sign");
            let refused = auth.authenticate(&token).err();
            assert_eq!(refused, Some(TokenError::Subject), "{sub:?}");
        }
        let mut medical = claims(3600);
        medical.role = Role::Medical;
        medical.sub = "d".repeat(MAX_SUBJECT_BYTES);
        let principal = auth
            .authenticate(&key.sign(&medical).expect("sign"))
            .expect("the longest subject passes");
        let actor = principal.actor().to_string();
        assert!(domain::Actor::parse(&actor).is_ok(), "{actor} reads back");
    }

    #[test]
    fn a_token_with_an_oversized_organisation_is_refused() {
        let (_dir, key, auth) = signer();
        let mut long_org = claims(3600);
        long_org.role = Role::Operator;
        long_org.sub = "op-1".into();
        long_org.org = Some("c".repeat(MAX_CLAIM_BYTES + 1));
        let token = key.sign(&long_org).expect("sign");
        assert_eq!(auth.authenticate(&token).err(), Some(TokenError::Subject));
    }
}
