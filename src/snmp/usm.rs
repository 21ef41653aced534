//! The User-based Security Model's cryptography (RFC 3414, RFC 7860, RFC 3826): password to key (the 1 MiB
//! expansion), key localization with the authoritative engine id, HMAC authentication (MD5-96, SHA-96 and the
//! RFC 7860 HMAC-SHA-2 truncations), privacy (DES-CBC, AES-128-CFB and AES-192/256-CFB with net-snmp's
//! "Blumenthal" key extension), and sealing / opening whole v3 messages with them. No I/O.
//!
//! Long because the key derivation, the authentication and the privacy are one security model whose pieces
//! depend on each other (the sealed message layout); each protocol's part is short.

use cbc::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use cfb_mode::cipher::AsyncStreamCipher;
use hmac::{Hmac, Mac};
use sha2::Digest;

use super::ber::BerError;
use super::message::{
    HeaderData, ScopedPdu, ScopedPduData, UsmParams, V3Message, FLAG_AUTH, FLAG_PRIV,
    FLAG_REPORTABLE,
};

/// Bytes of password hashed to make a key (RFC 3414 A.2.1).
pub const PASSWORD_EXPANSION: usize = 1 << 20;

/// Why a v3 message could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsmError {
    #[error("malformed message: {0}")]
    Ber(#[from] BerError),
    #[error("the message's digest does not match (wrong auth password or protocol?)")]
    WrongDigest,
    #[error("the message cannot be decrypted (wrong privacy password or protocol?)")]
    Decryption,
    #[error("the message is authenticated but no authentication key is configured")]
    NoAuthKey,
    #[error("the message is encrypted but no privacy key is configured")]
    NoPrivKey,
    #[error("privacy needs authentication (security level authPriv)")]
    PrivWithoutAuth,
    #[error("a password must not be empty")]
    EmptyPassword,
}

/// An authentication protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthProtocol {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// Runs `$body` with `$d` bound to the digest type of `$proto`.
macro_rules! with_digest {
    ($proto:expr, $d:ident => $body:expr) => {
        match $proto {
            AuthProtocol::Md5 => {
                type $d = md5::Md5;
                $body
            }
            AuthProtocol::Sha1 => {
                type $d = sha1::Sha1;
                $body
            }
            AuthProtocol::Sha224 => {
                type $d = sha2::Sha224;
                $body
            }
            AuthProtocol::Sha256 => {
                type $d = sha2::Sha256;
                $body
            }
            AuthProtocol::Sha384 => {
                type $d = sha2::Sha384;
                $body
            }
            AuthProtocol::Sha512 => {
                type $d = sha2::Sha512;
                $body
            }
        }
    };
}

impl AuthProtocol {
    /// Length of the (truncated) HMAC carried in msgAuthenticationParameters.
    pub fn mac_len(self) -> usize {
        match self {
            AuthProtocol::Md5 | AuthProtocol::Sha1 => 12,
            AuthProtocol::Sha224 => 16,
            AuthProtocol::Sha256 => 24,
            AuthProtocol::Sha384 => 32,
            AuthProtocol::Sha512 => 48,
        }
    }

    /// Length of the hash, and so of a key.
    pub fn digest_len(self) -> usize {
        match self {
            AuthProtocol::Md5 => 16,
            AuthProtocol::Sha1 => 20,
            AuthProtocol::Sha224 => 28,
            AuthProtocol::Sha256 => 32,
            AuthProtocol::Sha384 => 48,
            AuthProtocol::Sha512 => 64,
        }
    }

    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        with_digest!(self, D => D::digest(data).to_vec())
    }

    /// The HMAC of `data` with `key`, full length.
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        with_digest!(self, D => {
            let mut mac = <Hmac<D> as Mac>::new_from_slice(key)
                .expect("HMAC takes a key of any length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        })
    }

    /// Ku: the hash of the password repeated over 1 MiB (RFC 3414 A.2). Costly (milliseconds): once per run.
    pub fn password_to_key(self, password: &[u8]) -> Result<Vec<u8>, UsmError> {
        if password.is_empty() {
            return Err(UsmError::EmptyPassword);
        }
        Ok(with_digest!(self, D => {
            let mut d = D::new();
            let mut block = [0u8; 64];
            let mut at = 0usize;
            for _ in 0..PASSWORD_EXPANSION / 64 {
                for b in block.iter_mut() {
                    *b = password[at];
                    at = if at + 1 == password.len() { 0 } else { at + 1 };
                }
                d.update(block);
            }
            d.finalize().to_vec()
        }))
    }

    /// Kul: the key localized to an engine, H(Ku || engineID || Ku) (RFC 3414 A.2).
    pub fn localize(self, ku: &[u8], engine_id: &[u8]) -> Vec<u8> {
        with_digest!(self, D => {
            let mut d = D::new();
            d.update(ku);
            d.update(engine_id);
            d.update(ku);
            d.finalize().to_vec()
        })
    }
}

/// A privacy protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrivProtocol {
    Des,
    Aes128,
    Aes192,
    Aes256,
}

impl PrivProtocol {
    /// Bytes of localized key the cipher uses (DES: 8 of key and 8 of pre-IV).
    pub fn key_len(self) -> usize {
        match self {
            PrivProtocol::Des | PrivProtocol::Aes128 => 16,
            PrivProtocol::Aes192 => 24,
            PrivProtocol::Aes256 => 32,
        }
    }

    /// The privacy key for an engine: the master key `ku` (made with the auth protocol's hash) localized, then,
    /// when shorter than the cipher needs, extended as net-snmp does for AES-192/256 (draft-blumenthal-aes-usm-04
    /// 3.1.2.1: append H(key so far) until long enough), and cut to `key_len`.
    pub fn localize(self, auth: AuthProtocol, ku: &[u8], engine_id: &[u8]) -> Vec<u8> {
        let mut key = auth.localize(ku, engine_id);
        while key.len() < self.key_len() {
            let more = auth.hash(&key);
            key.extend_from_slice(&more);
        }
        key.truncate(self.key_len());
        key
    }

    /// Encrypts a scoped PDU; the ciphertext and msgPrivacyParameters (the salt). `boots` and `time` are the
    /// message's msgAuthoritativeEngineBoots/Time; `salt` a local counter (DES uses its low 32 bits after the
    /// boots, RFC 3414 8.1.1.1; AES all 64, RFC 3826 3.1.2.1).
    pub fn encrypt(
        self,
        key: &[u8],
        boots: u32,
        time: u32,
        salt: u64,
        plaintext: &[u8],
    ) -> (Vec<u8>, [u8; 8]) {
        match self {
            PrivProtocol::Des => {
                let mut salt_bytes = [0u8; 8];
                salt_bytes[..4].copy_from_slice(&boots.to_be_bytes());
                salt_bytes[4..].copy_from_slice(&(salt as u32).to_be_bytes());
                let iv = des_iv(key, &salt_bytes);
                let mut data = plaintext.to_vec();
                data.resize(plaintext.len().div_ceil(8) * 8, 0);
                let enc = cbc::Encryptor::<des::Des>::new_from_slices(&key[..8], &iv)
                    .expect("DES takes an 8-byte key and IV");
                let len = data.len();
                enc.encrypt_padded_mut::<NoPadding>(&mut data, len)
                    .expect("the data was padded to whole blocks");
                (data, salt_bytes)
            }
            _ => {
                let salt_bytes = salt.to_be_bytes();
                let iv = aes_iv(boots, time, &salt_bytes);
                let mut data = plaintext.to_vec();
                aes_cfb(self, key, &iv, &mut data, true);
                (data, salt_bytes)
            }
        }
    }

    /// Decrypts msgData with the message's boots, time and privacy parameters.
    pub fn decrypt(
        self,
        key: &[u8],
        boots: u32,
        time: u32,
        priv_params: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, UsmError> {
        let salt: &[u8; 8] = priv_params.try_into().map_err(|_| UsmError::Decryption)?;
        if key.len() < self.key_len() {
            return Err(UsmError::Decryption);
        }
        match self {
            PrivProtocol::Des => {
                if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(8) {
                    return Err(UsmError::Decryption);
                }
                let iv = des_iv(key, salt);
                let dec = cbc::Decryptor::<des::Des>::new_from_slices(&key[..8], &iv)
                    .expect("DES takes an 8-byte key and IV");
                let mut data = ciphertext.to_vec();
                dec.decrypt_padded_mut::<NoPadding>(&mut data)
                    .map_err(|_| UsmError::Decryption)?;
                Ok(data)
            }
            _ => {
                let iv = aes_iv(boots, time, salt);
                let mut data = ciphertext.to_vec();
                aes_cfb(self, key, &iv, &mut data, false);
                Ok(data)
            }
        }
    }
}

/// DES-CBC's IV: the pre-IV (the key's last 8 bytes) XOR the salt.
fn des_iv(key: &[u8], salt: &[u8; 8]) -> [u8; 8] {
    let mut iv = [0u8; 8];
    for i in 0..8 {
        iv[i] = key[8 + i] ^ salt[i];
    }
    iv
}

/// AES-CFB's IV: boots, time (big-endian), salt.
fn aes_iv(boots: u32, time: u32, salt: &[u8; 8]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..4].copy_from_slice(&boots.to_be_bytes());
    iv[4..8].copy_from_slice(&time.to_be_bytes());
    iv[8..].copy_from_slice(salt);
    iv
}

/// AES-CFB-128 in place with the key size of `proto`.
fn aes_cfb(proto: PrivProtocol, key: &[u8], iv: &[u8; 16], data: &mut [u8], encrypt: bool) {
    macro_rules! run {
        ($aes:ty, $len:expr) => {
            if encrypt {
                cfb_mode::Encryptor::<$aes>::new_from_slices(&key[..$len], iv)
                    .expect("key and IV lengths are the cipher's")
                    .encrypt(data)
            } else {
                cfb_mode::Decryptor::<$aes>::new_from_slices(&key[..$len], iv)
                    .expect("key and IV lengths are the cipher's")
                    .decrypt(data)
            }
        };
    }
    match proto {
        PrivProtocol::Aes128 => run!(aes::Aes128, 16),
        PrivProtocol::Aes192 => run!(aes::Aes192, 24),
        PrivProtocol::Aes256 => run!(aes::Aes256, 32),
        PrivProtocol::Des => unreachable!("DES is CBC, handled by the caller"),
    }
}

/// Writes the truncated HMAC of `msg` (whose auth parameters at `at` are zeros) at `at`.
pub fn sign(proto: AuthProtocol, key: &[u8], msg: &mut [u8], at: usize) {
    let len = proto.mac_len();
    let mac = proto.hmac(key, msg);
    msg[at..at + len].copy_from_slice(&mac[..len]);
}

/// Whether the auth parameters at `at` (of the protocol's length) are the HMAC of `msg` with them zeroed.
pub fn verify(proto: AuthProtocol, key: &[u8], msg: &[u8], at: usize) -> bool {
    let len = proto.mac_len();
    let Some(got) = msg.get(at..at + len) else {
        return false;
    };
    let mut zeroed = msg.to_vec();
    zeroed[at..at + len].fill(0);
    let mac = proto.hmac(key, &zeroed);
    // Constant time: the comparison does not stop at the first difference.
    got.iter()
        .zip(&mac[..len])
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// A user's master keys (Ku), made once from the passwords.
#[derive(Clone, PartialEq, Eq)]
pub struct UsmUser {
    pub name: Vec<u8>,
    pub auth: Option<(AuthProtocol, Vec<u8>)>,
    /// The privacy master key, made with the auth protocol's hash.
    pub privacy: Option<(PrivProtocol, Vec<u8>)>,
}

impl std::fmt::Debug for UsmUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsmUser")
            .field("name", &String::from_utf8_lossy(&self.name))
            .field("auth", &self.auth.as_ref().map(|a| a.0))
            .field("privacy", &self.privacy.as_ref().map(|p| p.0))
            .finish()
    }
}

/// A user's keys localized to one engine.
#[derive(Clone, PartialEq, Eq)]
pub struct LocalKeys {
    pub auth: Option<(AuthProtocol, Vec<u8>)>,
    pub privacy: Option<(PrivProtocol, Vec<u8>)>,
}

impl std::fmt::Debug for LocalKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalKeys(***)")
    }
}

impl UsmUser {
    /// Makes the master keys (the 1 MiB expansion per password).
    pub fn new(
        name: &[u8],
        auth: Option<(AuthProtocol, &[u8])>,
        privacy: Option<(PrivProtocol, &[u8])>,
    ) -> Result<UsmUser, UsmError> {
        let auth = match auth {
            Some((p, password)) => Some((p, p.password_to_key(password)?)),
            None => None,
        };
        let privacy = match (privacy, &auth) {
            (Some(_), None) => return Err(UsmError::PrivWithoutAuth),
            (Some((p, password)), Some((a, _))) => Some((p, a.password_to_key(password)?)),
            (None, _) => None,
        };
        Ok(UsmUser {
            name: name.to_vec(),
            auth,
            privacy,
        })
    }

    /// The keys localized to `engine_id` (two or three hashes: cheap, but cached per engine by the poller).
    pub fn localize(&self, engine_id: &[u8]) -> LocalKeys {
        let auth = self
            .auth
            .as_ref()
            .map(|(p, ku)| (*p, p.localize(ku, engine_id)));
        let privacy = match (&self.privacy, &self.auth) {
            (Some((p, ku)), Some((a, _))) => Some((*p, p.localize(*a, ku, engine_id))),
            _ => None,
        };
        LocalKeys { auth, privacy }
    }

    /// msgFlags for a request at this user's security level.
    pub fn flags(&self) -> u8 {
        FLAG_REPORTABLE
            | if self.auth.is_some() { FLAG_AUTH } else { 0 }
            | if self.privacy.is_some() { FLAG_PRIV } else { 0 }
    }
}

/// The authoritative engine a request is for: its id, boots and time as last learnt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EngineState {
    pub id: Vec<u8>,
    pub boots: u32,
    pub time: u32,
}

/// Encodes a v3 request: the scoped PDU encrypted and the message signed as `header.flags` says
/// (`UsmUser::flags`; a discovery request uses `FLAG_REPORTABLE` alone), with `keys`. `salt` must differ for
/// every encrypted message of a run (a counter). `header` as `HeaderData::usm` makes it.
pub fn seal(
    header: &HeaderData,
    user_name: &[u8],
    engine: &EngineState,
    keys: Option<&LocalKeys>,
    scoped: &ScopedPdu,
    salt: u64,
) -> Result<Vec<u8>, UsmError> {
    let flags = header.flags;
    let auth = if flags & FLAG_AUTH != 0 {
        Some(
            keys.and_then(|k| k.auth.as_ref())
                .ok_or(UsmError::NoAuthKey)?,
        )
    } else {
        None
    };
    let (data, priv_params) = if flags & FLAG_PRIV != 0 {
        if auth.is_none() {
            return Err(UsmError::PrivWithoutAuth);
        }
        let (p, key) = keys
            .and_then(|k| k.privacy.as_ref())
            .ok_or(UsmError::NoPrivKey)?;
        let (cipher, salt) = p.encrypt(key, engine.boots, engine.time, salt, &scoped.encode());
        (ScopedPduData::Encrypted(cipher), salt.to_vec())
    } else {
        (ScopedPduData::Plain(scoped.clone()), Vec::new())
    };
    let msg = V3Message {
        header: header.clone(),
        usm: UsmParams {
            engine_id: engine.id.clone(),
            engine_boots: engine.boots,
            engine_time: engine.time,
            user_name: user_name.to_vec(),
            auth_params: auth.map_or(Vec::new(), |(p, _)| vec![0; p.mac_len()]),
            priv_params,
        },
        data,
    };
    let (mut bytes, at) = msg.encode();
    if let Some((p, key)) = auth {
        sign(*p, key, &mut bytes, at);
    }
    Ok(bytes)
}

/// An opened v3 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub header: HeaderData,
    pub usm: UsmParams,
    pub scoped: ScopedPdu,
    /// Whether its digest was checked (msgFlags had auth).
    pub authenticated: bool,
}

/// Whether an answer with msgFlags `answer_flags` may answer a request sent with `request_flags`: at the same
/// security level, so an authNoPriv answer to an authPriv request (readable by anyone on the path) is refused, and
/// an unauthenticated one to an authenticated request.
pub fn same_level(answer_flags: u8, request_flags: u8) -> bool {
    let level = |f: u8| f & (FLAG_AUTH | FLAG_PRIV);
    level(answer_flags) == level(request_flags)
}

/// Largest lag of an authenticated answer's engine time behind the latest one received from that engine
/// (RFC 3414 3.2.7: 150 seconds).
pub const TIME_WINDOW_SECS: u32 = 150;

/// RFC 3414 3.2.7 b, on the non-authoritative side: whether an authenticated message carrying `(boots, time)` is
/// in the time window of an engine whose latest received values are `latest` (a replay of an old answer is not).
pub fn in_time_window(latest: (u32, u32), got: (u32, u32)) -> bool {
    let ((latest_boots, latest_time), (boots, time)) = (latest, got);
    boots != i32::MAX as u32
        && boots >= latest_boots
        && (boots > latest_boots || time.saturating_add(TIME_WINDOW_SECS) >= latest_time)
}

/// Decodes a v3 datagram, checks its digest when it is authenticated and decrypts it when it is encrypted,
/// with `keys` (none for a discovery answer). An unauthenticated message is returned as such: the caller
/// decides whether it may accept one (a Report may be unauthenticated; a Response to an authenticated request
/// may not).
pub fn open(buf: &[u8], keys: Option<&LocalKeys>) -> Result<Opened, UsmError> {
    let (msg, at) = V3Message::decode(buf)?;
    let flags = msg.header.flags;
    let authenticated = flags & FLAG_AUTH != 0;
    if authenticated {
        let (p, key) = keys
            .and_then(|k| k.auth.as_ref())
            .ok_or(UsmError::NoAuthKey)?;
        if msg.usm.auth_params.len() != p.mac_len() || !verify(*p, key, buf, at) {
            return Err(UsmError::WrongDigest);
        }
    }
    let scoped = match msg.data {
        ScopedPduData::Plain(scoped) => {
            if flags & FLAG_PRIV != 0 {
                return Err(BerError::Invalid("msgFlags says encrypted, msgData is plain").into());
            }
            scoped
        }
        ScopedPduData::Encrypted(cipher) => {
            if flags & FLAG_PRIV == 0 || !authenticated {
                return Err(
                    BerError::Invalid("encrypted msgData without priv and auth flags").into(),
                );
            }
            let (p, key) = keys
                .and_then(|k| k.privacy.as_ref())
                .ok_or(UsmError::NoPrivKey)?;
            let plain = p.decrypt(
                key,
                msg.usm.engine_boots,
                msg.usm.engine_time,
                &msg.usm.priv_params,
                &cipher,
            )?;
            ScopedPdu::decode(&plain).map_err(|_| UsmError::Decryption)?
        }
    };
    Ok(Opened {
        header: msg.header,
        usm: msg.usm,
        scoped,
        authenticated,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_time_window_is_rfc_3414s() {
        use super::in_time_window;
        assert!(in_time_window((5, 1000), (5, 1000)));
        assert!(in_time_window((5, 1000), (5, 850)));
        assert!(
            !in_time_window((5, 1000), (5, 849)),
            "more than 150 s behind"
        );
        assert!(in_time_window((5, 1000), (6, 0)), "a later boot");
        assert!(!in_time_window((5, 1000), (4, 5000)), "an earlier boot");
        assert!(
            !in_time_window((5, 1000), (i32::MAX as u32, 0)),
            "boots latched"
        );
    }

    use super::*;
    use crate::snmp::ber::Value;
    use crate::snmp::oid::Oid;
    use crate::snmp::pdu::Pdu;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const ENGINE: &str = "000000000000000000000002";

    #[test]
    fn rfc_3414_a3_1_md5_key_localization() {
        let ku = AuthProtocol::Md5.password_to_key(b"maplesyrup").unwrap();
        assert_eq!(ku, hex("9faf3283884e92834ebc9847d8edd963"));
        let kul = AuthProtocol::Md5.localize(&ku, &hex(ENGINE));
        assert_eq!(kul, hex("526f5eed9fcce26f8964c2930787d82b"));
    }

    #[test]
    fn rfc_3414_a3_2_sha_key_localization() {
        let ku = AuthProtocol::Sha1.password_to_key(b"maplesyrup").unwrap();
        assert_eq!(ku, hex("9fb5cc0381497b3793528939ff788d5d79145211"));
        let kul = AuthProtocol::Sha1.localize(&ku, &hex(ENGINE));
        assert_eq!(kul, hex("6695febc9288e36282235fc7151f128497b38f3f"));
    }

    #[test]
    fn sha2_keys_and_the_blumenthal_extension_match_an_independent_computation() {
        // Computed with Python's hashlib from the RFC 3414 A.2 definition (the expansion, then
        // H(Ku || engineID || Ku)), and for AES-256 with SHA-1 the draft's H(Kul) appended.
        let ku = AuthProtocol::Sha256.password_to_key(b"maplesyrup").unwrap();
        assert_eq!(ku, hex(SHA256_KU));
        assert_eq!(
            AuthProtocol::Sha256.localize(&ku, &hex(ENGINE)),
            hex(SHA256_KUL)
        );
        let ku1 = AuthProtocol::Sha1.password_to_key(b"maplesyrup").unwrap();
        let k = PrivProtocol::Aes256.localize(AuthProtocol::Sha1, &ku1, &hex(ENGINE));
        assert_eq!(k, hex(SHA1_AES256_KEY));
        let k192 = PrivProtocol::Aes192.localize(
            AuthProtocol::Md5,
            &AuthProtocol::Md5.password_to_key(b"maplesyrup").unwrap(),
            &hex(ENGINE),
        );
        assert_eq!(k192.len(), 24);
        assert_eq!(&k192[..16], &hex("526f5eed9fcce26f8964c2930787d82b")[..]);
        assert_eq!(
            &k192[16..],
            &AuthProtocol::Md5.hash(&hex("526f5eed9fcce26f8964c2930787d82b"))[..8]
        );
    }

    const SHA256_KU: &str = "ab51014d1e077f6017df2b12bee5f5aa72993177e9bb569c4dff5a4ca0b4afac";
    const SHA256_KUL: &str = "8982e0e549e866db361a6b625d84cccc11162d453ee8ce3a6445c2d6776f0f8b";
    const SHA1_AES256_KEY: &str =
        "6695febc9288e36282235fc7151f128497b38f3f505e07eb9af25568fa1f5dbe";

    #[test]
    fn mac_lengths_follow_rfc_7860() {
        use AuthProtocol::*;
        let lens: Vec<(usize, usize)> = [Md5, Sha1, Sha224, Sha256, Sha384, Sha512]
            .iter()
            .map(|p| (p.mac_len(), p.hmac(b"k", b"d").len()))
            .collect();
        assert_eq!(
            lens,
            [(12, 16), (12, 20), (16, 28), (24, 32), (32, 48), (48, 64)]
        );
        for p in [Md5, Sha1, Sha224, Sha256, Sha384, Sha512] {
            assert_eq!(p.digest_len(), p.hash(b"").len());
        }
    }

    #[test]
    fn ciphers_round_trip_and_depend_on_key_and_salt() {
        let plain: Vec<u8> = (0..77u8).collect();
        for p in [
            PrivProtocol::Des,
            PrivProtocol::Aes128,
            PrivProtocol::Aes192,
            PrivProtocol::Aes256,
        ] {
            let key: Vec<u8> = (0..p.key_len() as u8).collect();
            let (c, salt) = p.encrypt(&key, 3, 1000, 42, &plain);
            assert_ne!(&c[..plain.len()], &plain[..]);
            let back = p.decrypt(&key, 3, 1000, &salt, &c).unwrap();
            assert_eq!(&back[..plain.len()], &plain[..], "{p:?}");
            let (c2, _) = p.encrypt(&key, 3, 1000, 43, &plain);
            assert_ne!(c, c2, "the salt changes the ciphertext");
            assert!(p.decrypt(&key, 3, 1000, &salt[..7], &c).is_err());
        }
        assert_eq!(
            PrivProtocol::Des.decrypt(&[0; 16], 0, 0, &[0; 8], &[1; 7]),
            Err(UsmError::Decryption)
        );
    }

    fn header(msg_id: i32, flags: u8) -> HeaderData {
        HeaderData::usm(msg_id, 65507, flags)
    }

    fn scoped(kind_response: bool) -> ScopedPdu {
        let oid = Oid::parse("1.3.6.1.2.1.1.3.0").unwrap();
        ScopedPdu {
            context_engine_id: hex(ENGINE),
            context_name: Vec::new(),
            pdu: if kind_response {
                Pdu::response(11, 0, 0, vec![(oid, Value::TimeTicks(5))])
            } else {
                Pdu::get(11, &[oid])
            },
        }
    }

    #[test]
    fn sealed_messages_open_with_the_right_keys_only() {
        let engine = EngineState {
            id: hex(ENGINE),
            boots: 4,
            time: 99,
        };
        for (a, p) in [
            (AuthProtocol::Md5, Some(PrivProtocol::Des)),
            (AuthProtocol::Sha1, Some(PrivProtocol::Aes128)),
            (AuthProtocol::Sha256, Some(PrivProtocol::Aes256)),
            (AuthProtocol::Sha512, Some(PrivProtocol::Aes192)),
            (AuthProtocol::Sha224, None),
        ] {
            let user = UsmUser::new(
                b"alice",
                Some((a, b"password1")),
                p.map(|p| (p, &b"password2"[..])),
            )
            .unwrap();
            let keys = user.localize(&engine.id);
            let bytes = seal(
                &header(7, user.flags()),
                b"alice",
                &engine,
                Some(&keys),
                &scoped(true),
                1,
            )
            .unwrap();
            let opened = open(&bytes, Some(&keys)).unwrap();
            assert!(opened.authenticated);
            assert_eq!(opened.scoped, scoped(true));
            assert_eq!(opened.usm.engine_boots, 4);
            let wrong = UsmUser::new(
                b"alice",
                Some((a, b"password9")),
                p.map(|p| (p, &b"password2"[..])),
            )
            .unwrap();
            assert_eq!(
                open(&bytes, Some(&wrong.localize(&engine.id))),
                Err(UsmError::WrongDigest)
            );
            let mut tampered = bytes.clone();
            let last = tampered.len() - 1;
            tampered[last] ^= 1;
            assert_eq!(open(&tampered, Some(&keys)), Err(UsmError::WrongDigest));
            assert_eq!(open(&bytes, None), Err(UsmError::NoAuthKey));
            for n in 0..bytes.len() {
                assert!(open(&bytes[..n], Some(&keys)).is_err());
            }
            // Any byte changed: an error (the digest covers every byte), never a panic — or, when the change
            // clears the auth flag, a message that says it is not authenticated (which the poller refuses as
            // an answer to an authenticated request).
            for i in 0..bytes.len() {
                for x in [0x01, 0x80, 0xff] {
                    let mut bad = bytes.clone();
                    bad[i] ^= x;
                    if let Ok(o) = open(&bad, Some(&keys)) {
                        assert!(!o.authenticated, "byte {i} ^ {x:#x}");
                        assert_eq!(o.header.flags & FLAG_AUTH, 0);
                    }
                }
            }
        }
        // A discovery request: no auth, no priv, no keys.
        let probe = seal(
            &header(1, FLAG_REPORTABLE),
            b"",
            &EngineState::default(),
            None,
            &scoped(false),
            0,
        )
        .unwrap();
        let opened = open(&probe, None).unwrap();
        assert!(!opened.authenticated);
        assert!(UsmUser::new(b"u", None, Some((PrivProtocol::Des, b"x"))).is_err());
        assert_eq!(
            AuthProtocol::Md5.password_to_key(b""),
            Err(UsmError::EmptyPassword)
        );
    }
}
