//! `tls_config` → rustls: roots, client certificate, server name, versions.
//! Only the ring provider is used, so no C crypto library is linked.

use std::sync::{Arc, OnceLock};

use config::http::{TlsConfig, TlsVersion};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::file_error;

/// The bytes of the CA, certificate and key as last read (inline or from
/// their files). Comparing two of these tells whether a rotation changed
/// anything, so the client is rebuilt only when the material really differs.
#[derive(Default, PartialEq, Eq)]
pub(crate) struct Material {
    ca: Option<Vec<u8>>,
    cert: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
}

fn describe(file: &str) -> &str {
    if file.is_empty() { "inline" } else { file }
}

fn read_file(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| file_error(path, &e))
}

impl Material {
    pub(crate) fn load(cfg: &TlsConfig) -> Result<Material, String> {
        let ca = if !cfg.ca.is_empty() {
            Some(cfg.ca.as_bytes().to_vec())
        } else if !cfg.ca_file.is_empty() {
            Some(read_file(&cfg.ca_file).map_err(|e| format!("unable to read CA cert: {e}"))?)
        } else {
            None
        };
        let cert = if !cfg.cert.is_empty() {
            Some(cfg.cert.as_bytes().to_vec())
        } else if !cfg.cert_file.is_empty() {
            Some(read_file(&cfg.cert_file).map_err(|e| format!("unable to read specified client cert: {e}"))?)
        } else {
            None
        };
        let key = if !cfg.key.is_empty() {
            Some(cfg.key.expose().as_bytes().to_vec())
        } else if !cfg.key_file.is_empty() {
            Some(read_file(&cfg.key_file).map_err(|e| format!("unable to read specified client key: {e}"))?)
        } else {
            None
        };
        Ok(Material { ca, cert, key })
    }
}

/// Refuses what rustls cannot do, at `Client::new`, so a config that would
/// only fail on the first scrape fails at load time instead.
pub(crate) fn check(cfg: &TlsConfig, field: &str) -> Result<(), String> {
    for (name, value) in [("ca_ref", &cfg.ca_ref), ("cert_ref", &cfg.cert_ref), ("key_ref", &cfg.key_ref)] {
        if !value.is_empty() {
            return Err(format!("{field}.{name}: secret references are not supported (no secret manager is configured)"));
        }
    }
    versions(cfg, field)?;
    if !cfg.server_name.is_empty() {
        server_name(&cfg.server_name, field)?;
    }
    Ok(())
}

fn versions(cfg: &TlsConfig, field: &str) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    // Go's client default minimum is TLS 1.2, which is also the oldest rustls speaks.
    let min = cfg.min_version.unwrap_or(TlsVersion::Tls12);
    let max = cfg.max_version.unwrap_or(TlsVersion::Tls13);
    for (name, v) in [("min_version", min), ("max_version", max)] {
        if matches!(v, TlsVersion::Tls10 | TlsVersion::Tls11) {
            let shown = if v == TlsVersion::Tls10 { "TLS10" } else { "TLS11" };
            return Err(format!("{field}.{name} {shown} is not supported: the TLS library speaks only TLS12 and TLS13"));
        }
    }
    let mut out = Vec::new();
    if min <= TlsVersion::Tls12 && TlsVersion::Tls12 <= max {
        out.push(&rustls::version::TLS12);
    }
    if min <= TlsVersion::Tls13 && TlsVersion::Tls13 <= max {
        out.push(&rustls::version::TLS13);
    }
    if out.is_empty() {
        return Err(format!("{field}: no TLS version between min_version and max_version"));
    }
    Ok(out)
}

fn server_name(name: &str, field: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_owned()).map_err(|e| format!("{field}.server_name {name:?} is invalid: {e}"))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The system's trust store, read once per process: it is what Go uses when
/// no CA is configured, and reading it takes milliseconds we do not want on
/// every client rebuild.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for err in &found.errors {
                tracing::warn!(err = %err, "Error loading system certificates");
            }
            let mut roots = RootCertStore::empty();
            let (added, ignored) = roots.add_parsable_certificates(found.certs);
            if ignored > 0 {
                tracing::debug!(added, ignored, "Some system certificates could not be used");
            }
            if added == 0 {
                tracing::warn!("No system CA certificates found; TLS targets need tls_config.ca or ca_file");
            }
            Arc::new(roots)
        })
        .clone()
}

/// Builds the rustls config from already-read material. `alpn` is what the
/// connection offers: reqwest takes a preconfigured config as it is, so
/// HTTP/2 is allowed or not here.
pub(crate) fn client_config(cfg: &TlsConfig, m: &Material, alpn: Vec<Vec<u8>>, field: &str) -> Result<rustls::ClientConfig, String> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = if cfg.insecure_skip_verify {
        Arc::new(SkipVerify { algs: provider.signature_verification_algorithms })
    } else {
        let roots = match &m.ca {
            Some(pem) => {
                let what = describe(&cfg.ca_file);
                let mut roots = RootCertStore::empty();
                // Like Go's AppendCertsFromPEM: unusable blocks are skipped, and
                // only a file without a single usable certificate is an error.
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem).filter_map(Result::ok).collect();
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(format!("unable to load specified CA cert {what}"));
                }
                Arc::new(roots)
            }
            None => system_roots(),
        };
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone()).build().map_err(|e| format!("{field}: {e}"))?;
        if cfg.server_name.is_empty() { webpki } else { Arc::new(FixedName { inner: webpki, name: server_name(&cfg.server_name, field)? }) }
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions(cfg, field)?)
        .map_err(|e| format!("{field}: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&m.cert, &m.key) {
        (Some(cert), Some(key)) => {
            let what = || format!("unable to use specified client cert ({}) & key ({})", describe(&cfg.cert_file), describe(&cfg.key_file));
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(cert).collect::<Result<_, _>>().map_err(|e| format!("{}: certificate: {e}", what()))?;
            if chain.is_empty() {
                return Err(format!("{}: no certificate found in the PEM data", what()));
            }
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("{}: key: {e}", what()))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| format!("{}: {e}", what()))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn;
    Ok(config)
}

/// `insecure_skip_verify`: any certificate is accepted, but the handshake
/// signatures are still checked, as Go does (they prove the peer holds the key
/// of the certificate it sent, whatever that certificate is).
#[derive(Debug)]
struct SkipVerify {
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for SkipVerify {
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

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// `server_name`: the chain is verified as usual but against the configured
/// name instead of the URL's host, so targets found by IP can present a
/// certificate for their DNS name.
#[derive(Debug)]
struct FixedName {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for FixedName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner.verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_the_config() {
        let mut c = TlsConfig::default();
        assert_eq!(versions(&c, "tls_config").unwrap().len(), 2);
        c.min_version = Some(TlsVersion::Tls13);
        assert_eq!(versions(&c, "tls_config").unwrap().len(), 1);
        c.min_version = Some(TlsVersion::Tls11);
        assert_eq!(versions(&c, "tls_config").unwrap_err(), "tls_config.min_version TLS11 is not supported: the TLS library speaks only TLS12 and TLS13");
    }
}
