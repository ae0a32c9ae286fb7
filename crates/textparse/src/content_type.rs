//! Choosing a parser from a scrape's `Content-Type`, and the `Accept` header
//! that asks a target for the configured scrape protocols, both as
//! Prometheus does (`textparse.New`, `scrape.acceptHeader`).

use std::fmt;
use std::str::FromStr;

use model::{Exemplar, Labels};

use crate::{Entry, OpenMetricsParser, ParseError, Parser, PromParser};

/// A scrape protocol as named in `scrape_protocols` and
/// `fallback_scrape_protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScrapeProtocol {
    PrometheusProto,
    PrometheusText0_0_4,
    PrometheusText1_0_0,
    OpenMetricsText0_0_1,
    OpenMetricsText1_0_0,
}

impl ScrapeProtocol {
    /// Every protocol; the number of them sets the `Accept` weights.
    pub const ALL: [ScrapeProtocol; 5] = [
        ScrapeProtocol::PrometheusProto,
        ScrapeProtocol::PrometheusText0_0_4,
        ScrapeProtocol::PrometheusText1_0_0,
        ScrapeProtocol::OpenMetricsText0_0_1,
        ScrapeProtocol::OpenMetricsText1_0_0,
    ];

    /// Prometheus's default `scrape_protocols`, by priority.
    pub const DEFAULT: [ScrapeProtocol; 4] =
        [ScrapeProtocol::OpenMetricsText1_0_0, ScrapeProtocol::OpenMetricsText0_0_1, ScrapeProtocol::PrometheusText1_0_0, ScrapeProtocol::PrometheusText0_0_4];

    pub fn as_str(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => "PrometheusProto",
            ScrapeProtocol::PrometheusText0_0_4 => "PrometheusText0.0.4",
            ScrapeProtocol::PrometheusText1_0_0 => "PrometheusText1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "OpenMetricsText0.0.1",
            ScrapeProtocol::OpenMetricsText1_0_0 => "OpenMetricsText1.0.0",
        }
    }

    /// The media type with parameters that asks for this protocol.
    pub fn header(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
            ScrapeProtocol::PrometheusText0_0_4 => "text/plain;version=0.0.4",
            ScrapeProtocol::PrometheusText1_0_0 => "text/plain;version=1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "application/openmetrics-text;version=0.0.1",
            ScrapeProtocol::OpenMetricsText1_0_0 => "application/openmetrics-text;version=1.0.0",
        }
    }

    /// The bare media type of [`ScrapeProtocol::header`].
    pub fn media_type(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => "application/vnd.google.protobuf",
            ScrapeProtocol::PrometheusText0_0_4 | ScrapeProtocol::PrometheusText1_0_0 => "text/plain",
            ScrapeProtocol::OpenMetricsText0_0_1 | ScrapeProtocol::OpenMetricsText1_0_0 => "application/openmetrics-text",
        }
    }
}

impl fmt::Display for ScrapeProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown scrape protocol name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scrape protocol {0}, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0]")]
pub struct UnknownScrapeProtocol(pub String);

impl FromStr for ScrapeProtocol {
    type Err = UnknownScrapeProtocol;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ScrapeProtocol::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| UnknownScrapeProtocol(s.to_owned()))
    }
}

/// How a target should escape names that are not legacy-valid
/// (`escaping=` in the `Accept` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EscapingScheme {
    #[default]
    AllowUtf8,
    Underscores,
    Dots,
    Values,
}

impl EscapingScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            EscapingScheme::AllowUtf8 => "allow-utf-8",
            EscapingScheme::Underscores => "underscores",
            EscapingScheme::Dots => "dots",
            EscapingScheme::Values => "values",
        }
    }
}

/// The `Accept` header for `protocols` in order of preference: weights count
/// down from `0.(n+1)` where n is the number of known protocols, the 1.0.0
/// text formats carry the escaping scheme, and `*/*` comes last.
pub fn accept_header(protocols: &[ScrapeProtocol], escaping: EscapingScheme) -> String {
    let mut vals = Vec::with_capacity(protocols.len() + 1);
    let mut weight = ScrapeProtocol::ALL.len() + 1;
    for &p in protocols {
        let mut val = p.header().to_owned();
        if matches!(p, ScrapeProtocol::PrometheusText1_0_0 | ScrapeProtocol::OpenMetricsText1_0_0) {
            val.push_str(";escaping=");
            val.push_str(escaping.as_str());
        }
        val.push_str(&format!(";q=0.{weight}"));
        vals.push(val);
        weight = weight.saturating_sub(1);
    }
    vals.push(format!("*/*;q=0.{weight}"));
    vals.join(",")
}

/// Why no parser could be chosen for a scrape response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentTypeError {
    #[error("non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target")]
    Blank,
    #[error("cannot parse Content-Type {0:?} and no fallback_scrape_protocol for target")]
    Unparsable(String),
    #[error("received unsupported Content-Type {0:?} and no fallback_scrape_protocol specified for target")]
    Unsupported(String),
    /// The protobuf format is recognised but not implemented yet.
    #[error("protobuf exposition (Content-Type {0:?}) is not supported yet")]
    Protobuf(String),
}

/// Either text parser, chosen at run time without boxing.
#[derive(Debug)]
pub enum AnyParser<'a> {
    Prom(PromParser<'a>),
    OpenMetrics(OpenMetricsParser<'a>),
}

impl<'a> Parser<'a> for AnyParser<'a> {
    fn next(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        match self {
            AnyParser::Prom(p) => p.next(),
            AnyParser::OpenMetrics(p) => p.next(),
        }
    }

    fn labels(&self) -> Labels {
        match self {
            AnyParser::Prom(p) => p.labels(),
            AnyParser::OpenMetrics(p) => p.labels(),
        }
    }

    fn exemplar(&self) -> Option<Exemplar> {
        match self {
            AnyParser::Prom(_) => None,
            AnyParser::OpenMetrics(p) => p.exemplar(),
        }
    }
}

/// The chosen parser, and a warning to log when a fallback was used.
#[derive(Debug)]
pub struct Selected<'a> {
    pub parser: AnyParser<'a>,
    pub warning: Option<String>,
}

/// The media type of a `Content-Type` value, lower-cased, or `None` when it
/// is not `type/subtype` made of RFC 2045 token characters.
fn media_type(content_type: &str) -> Option<String> {
    let mt = content_type.split(';').next().unwrap_or_default().trim();
    let (ty, sub) = mt.split_once('/')?;
    let token = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&c));
    (token(ty) && token(sub)).then(|| mt.to_ascii_lowercase())
}

/// Picks the parser for a scrape response as Prometheus does:
/// `application/openmetrics-text` → OpenMetrics, `text/plain` → the text
/// format; a blank, unparsable or unknown type uses `fallback` (with a
/// warning) or fails.
pub fn parser_for<'a>(content_type: &str, body: &'a [u8], fallback: Option<ScrapeProtocol>) -> Result<Selected<'a>, ContentTypeError> {
    let (media, warning) = if content_type.is_empty() {
        let fb = fallback.ok_or(ContentTypeError::Blank)?;
        (fb.media_type().to_owned(), Some(format!("non-compliant scrape target sending blank Content-Type, using fallback_scrape_protocol {:?}", fb.as_str())))
    } else {
        match media_type(content_type) {
            None => {
                let fb = fallback.ok_or_else(|| ContentTypeError::Unparsable(content_type.to_owned()))?;
                let w = format!("could not parse received Content-Type {content_type:?}, using fallback_scrape_protocol {:?}", fb.as_str());
                (fb.media_type().to_owned(), Some(w))
            }
            Some(m) if matches!(m.as_str(), "application/openmetrics-text" | "application/vnd.google.protobuf" | "text/plain") => (m, None),
            Some(_) => {
                let fb = fallback.ok_or_else(|| ContentTypeError::Unsupported(content_type.to_owned()))?;
                let w = format!("received unsupported Content-Type {content_type:?}, using fallback_scrape_protocol {:?}", fb.as_str());
                (fb.media_type().to_owned(), Some(w))
            }
        }
    };
    let parser = match media.as_str() {
        "application/openmetrics-text" => AnyParser::OpenMetrics(OpenMetricsParser::new(body)),
        "text/plain" => AnyParser::Prom(PromParser::new(body)),
        _ => return Err(ContentTypeError::Protobuf(content_type.to_owned())),
    };
    Ok(Selected { parser, warning })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_matches_prometheus() {
        assert_eq!(
            accept_header(&ScrapeProtocol::DEFAULT, EscapingScheme::AllowUtf8),
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
             application/openmetrics-text;version=0.0.1;q=0.5,\
             text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
             text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        );
        assert_eq!(
            accept_header(&[ScrapeProtocol::PrometheusProto, ScrapeProtocol::PrometheusText0_0_4], EscapingScheme::Underscores),
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,text/plain;version=0.0.4;q=0.5,*/*;q=0.4"
        );
    }

    #[test]
    fn protocol_names_round_trip() {
        for p in ScrapeProtocol::ALL {
            assert_eq!(p.as_str().parse::<ScrapeProtocol>(), Ok(p));
        }
        assert!("PrometheusText9".parse::<ScrapeProtocol>().is_err());
    }

    #[test]
    fn selects_parser() {
        let body = b"a 1\n";
        type Case<'c> = (&'c str, Option<ScrapeProtocol>, Result<(bool, bool), ()>);
        let cases: &[Case<'_>] = &[
            ("text/plain; version=0.0.4; charset=utf-8", None, Ok((false, false))),
            ("Text/Plain", None, Ok((false, false))),
            ("application/openmetrics-text; version=1.0.0; charset=utf-8", None, Ok((true, false))),
            ("", None, Err(())),
            ("", Some(ScrapeProtocol::PrometheusText0_0_4), Ok((false, true))),
            ("text/html", None, Err(())),
            ("text/html", Some(ScrapeProtocol::OpenMetricsText1_0_0), Ok((true, true))),
            ("garbage", None, Err(())),
            ("garbage", Some(ScrapeProtocol::PrometheusText1_0_0), Ok((false, true))),
            ("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily", None, Err(())),
        ];
        for (ct, fb, want) in cases {
            let got = parser_for(ct, body, *fb).map(|s| (matches!(s.parser, AnyParser::OpenMetrics(_)), s.warning.is_some())).map_err(|_| ());
            assert_eq!(&got, want, "{ct:?} {fb:?}");
        }
        let err = parser_for("text/html", body, None).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("received unsupported Content-Type \"text/html\" and no fallback_scrape_protocol specified for target"));
    }
}
