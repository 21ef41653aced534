//! TLS through rustls (ring): the clients' configuration (the load client's and the http source's: system roots
//! or a CA file, optional client certificate, the loudly-warned insecure mode) and the mock server's (certificate,
//! optional client CA).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use crate::config::{ExtractSettings, LoadSettings, MockSettings, SettingsError, SourceKind};

/// The clients speak HTTP/1.1 only (awc is built without HTTP/2), so that is all they offer. The mock's server
/// configuration gets actix-web's own ALPN list (it offers `h2` too, since actix-http's HTTP/2 is compiled in).
const ALPN_HTTP11: &[u8] = b"http/1.1";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn is_set(path: &Path) -> bool {
    !path.as_os_str().is_empty()
}

fn file_error(key: &str, path: &Path, message: impl fmt::Display) -> SettingsError {
    SettingsError::invalid(key, format!("{}: {message}", path.display()))
}

/// Every certificate in the PEM file at `path`; an error naming `key` if it cannot be read or holds none.
fn read_certs(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, SettingsError> {
    let pem = std::fs::read(path).map_err(|e| file_error(key, path, e))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(key, path, format!("unreadable PEM: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(
            key,
            path,
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in the PEM file at `path`.
fn read_key(key: &str, path: &Path) -> Result<PrivateKeyDer<'static>, SettingsError> {
    let pem = std::fs::read(path).map_err(|e| file_error(key, path, e))?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| file_error(key, path, format!("holds no usable PEM private key: {e}")))
}

/// A root store of the certificates in `path`.
fn roots_from(key: &str, path: &Path) -> Result<RootCertStore, SettingsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(key, path)? {
        roots
            .add(cert)
            .map_err(|e| file_error(key, path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// The system's trusted roots (the platform store, `SSL_CERT_FILE`/`SSL_CERT_DIR` honoured); `key` is the CA key
/// to suggest when there are none.
fn system_roots(key: &str) -> Result<RootCertStore, SettingsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err(SettingsError::invalid(
            key,
            format!(
                "an https:// URL needs trusted roots and the system holds none; set {key} to the PEM file of \
                 the server's CA"
            ),
        ));
    }
    Ok(roots)
}

/// The load client's TLS configuration, built once at start and shared by every loader; empty for `http://`.
#[derive(Clone, Default)]
pub struct ClientTls(Option<Arc<ClientConfig>>);

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "ClientTls(configured)"
        } else {
            "ClientTls(none)"
        })
    }
}

/// The TLS keys of one client: `{section}.ca_file`, `{section}.insecure_skip_verify` and, optionally, a client
/// certificate (`{section}.client_cert_file` / `client_key_file`).
pub struct ClientKeys<'a> {
    /// `load` or `extract.http`: names the keys in errors.
    pub section: &'static str,
    pub ca_file: &'a Path,
    pub insecure_skip_verify: bool,
    pub client_cert_file: &'a Path,
    pub client_key_file: &'a Path,
}

impl ClientTls {
    /// The load client's configuration when `load.endpoint` is `https://`.
    pub fn from_settings(load: &LoadSettings) -> Result<Self, SettingsError> {
        if !load.endpoint.starts_with("https://") {
            return Ok(ClientTls(None));
        }
        Self::build(&ClientKeys {
            section: "load",
            ca_file: &load.ca_file,
            insecure_skip_verify: load.insecure_skip_verify,
            client_cert_file: &load.client_cert_file,
            client_key_file: &load.client_key_file,
        })
        .map(|config| ClientTls(Some(config)))
    }

    /// The http source's configuration when `extract.source = "http"` and its URL template is `https://`.
    pub fn for_http_source(extract: &ExtractSettings) -> Result<Self, SettingsError> {
        let http = &extract.http;
        if extract.source != SourceKind::Http || !http.url_template.starts_with("https://") {
            return Ok(ClientTls(None));
        }
        Self::build(&ClientKeys {
            section: "extract.http",
            ca_file: &http.ca_file,
            insecure_skip_verify: http.insecure_skip_verify,
            client_cert_file: Path::new(""),
            client_key_file: Path::new(""),
        })
        .map(|config| ClientTls(Some(config)))
    }

    /// Roots from `ca_file` (replacing the system's) or the system, the client certificate if set, or no
    /// verification at all with `insecure_skip_verify`; errors name the key and the file.
    pub fn build(keys: &ClientKeys<'_>) -> Result<Arc<ClientConfig>, SettingsError> {
        let key = |name: &str| format!("{}.{name}", keys.section);
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions");
        let builder = if keys.insecure_skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
        } else if is_set(keys.ca_file) {
            builder.with_root_certificates(roots_from(&key("ca_file"), keys.ca_file)?)
        } else {
            builder.with_root_certificates(system_roots(&key("ca_file"))?)
        };
        let mut config = if is_set(keys.client_cert_file) {
            let certs = read_certs(&key("client_cert_file"), keys.client_cert_file)?;
            let private = read_key(&key("client_key_file"), keys.client_key_file)?;
            builder.with_client_auth_cert(certs, private).map_err(|e| {
                file_error(
                    &key("client_key_file"),
                    keys.client_key_file,
                    format!("does not go with {}: {e}", key("client_cert_file")),
                )
            })?
        } else {
            builder.with_no_client_auth()
        };
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        Ok(Arc::new(config))
    }

    /// The rustls configuration for awc, if the endpoint is `https://`.
    pub fn config(&self) -> Option<Arc<ClientConfig>> {
        self.0.clone()
    }
}

/// `insecure_skip_verify`: any certificate is accepted, but handshake signatures are still checked so that
/// the session itself is sound.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The mock server's TLS configuration when `mock.tls_cert_file` is set; with `mock.tls_client_ca_file` it
/// requires a client certificate signed by that CA.
pub fn server_config(mock: &MockSettings) -> Result<Option<ServerConfig>, SettingsError> {
    if !is_set(&mock.tls_cert_file) {
        return Ok(None);
    }
    let certs = read_certs("mock.tls_cert_file", &mock.tls_cert_file)?;
    let key = read_key("mock.tls_key_file", &mock.tls_key_file)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let builder = if is_set(&mock.tls_client_ca_file) {
        let roots = roots_from("mock.tls_client_ca_file", &mock.tls_client_ca_file)?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| file_error("mock.tls_client_ca_file", &mock.tls_client_ca_file, e))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder.with_single_cert(certs, key).map_err(|e| {
        file_error(
            "mock.tls_key_file",
            &mock.tls_key_file,
            format!("does not go with mock.tls_cert_file: {e}"),
        )
    })?;
    // No ALPN list here: actix-web puts its own (`h2`, `http/1.1`) in front when it binds.
    Ok(Some(config))
}
