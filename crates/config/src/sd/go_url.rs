//! The parts of Go's `net/url.Parse` that Prometheus's discovery configs rely
//! on: the scheme, the host and the errors it reports. Go accepts far more
//! than WHATWG parsers do (`localhost:1234`, `invalid`) and rejects other
//! things (`://x`), and users see its exact wording in config errors.

use model::quote::go_quote;

/// What the discovery configs look at in a parsed URL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct GoUrl {
    /// Lowercased, `""` when there is none.
    pub scheme: String,
    /// Host and port, `""` when there is no `//authority` part.
    pub host: String,
}

/// Parses `raw` as Go's `url.Parse` does; errors read `parse "raw": why`.
pub(crate) fn parse(raw: &str) -> Result<GoUrl, String> {
    parse_inner(raw).map_err(|why| format!("parse {}: {why}", go_quote(raw.as_bytes())))
}

fn parse_inner(raw: &str) -> Result<GoUrl, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    let without_fragment = raw.split_once('#').map_or(raw, |(u, _)| u);
    if without_fragment == "*" {
        return Ok(GoUrl::default());
    }
    let (scheme, rest) = split_scheme(without_fragment)?;
    let rest = rest.split_once('?').map_or(rest, |(r, _)| r);
    let mut url = GoUrl { scheme: scheme.to_ascii_lowercase(), host: String::new() };

    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            // An opaque URL such as `mailto:x`: no host, nothing more to check.
            return Ok(url);
        }
        let first_segment = rest.split('/').next().unwrap_or("");
        if first_segment.contains(':') {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    let mut path = rest;
    if rest.starts_with("//") && !rest.starts_with("///") {
        let authority_and_path = &rest[2..];
        let (authority, p) = match authority_and_path.find('/') {
            Some(i) => (&authority_and_path[..i], &authority_and_path[i..]),
            None => (authority_and_path, ""),
        };
        url.host = parse_authority(authority)?;
        path = p;
    }
    check_escapes(path)?;
    Ok(url)
}

/// Go's `getScheme`: letters, then digits or `+-.`, up to a colon.
fn split_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' => {
                if i == 0 {
                    return Ok(("", raw));
                }
            }
            b':' => {
                if i == 0 {
                    return Err("missing protocol scheme".into());
                }
                return Ok((&raw[..i], &raw[i + 1..]));
            }
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

fn parse_authority(authority: &str) -> Result<String, String> {
    let host = match authority.rfind('@') {
        Some(i) => {
            let userinfo = &authority[..i];
            if !userinfo.bytes().all(valid_userinfo_byte) {
                return Err("net/url: invalid userinfo".into());
            }
            &authority[i + 1..]
        }
        None => authority,
    };
    parse_host(host)?;
    Ok(host.to_owned())
}

fn valid_userinfo_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b) || b >= 0x80
}

fn parse_host(host: &str) -> Result<(), String> {
    if let Some(bracketed) = host.strip_prefix('[') {
        let Some(end) = bracketed.find(']') else {
            return Err("missing ']' in host".into());
        };
        let port = &bracketed[end + 1..];
        if !valid_optional_port(port) {
            return Err(format!("invalid port {} after host", go_quote(port.as_bytes())));
        }
        return Ok(());
    }
    if let Some(i) = host.rfind(':') {
        let port = &host[i..];
        if !valid_optional_port(port) {
            return Err(format!("invalid port {} after host", go_quote(port.as_bytes())));
        }
    }
    for (i, b) in host.bytes().enumerate() {
        if b == b'%' {
            check_escape_at(host, i)?;
        } else if b < 0x80 && !host_byte_allowed(b) {
            return Err(format!("invalid character {} in host name", go_quote(&[b])));
        }
    }
    Ok(())
}

/// Bytes Go leaves unescaped in a host (`shouldEscape` in host mode).
fn host_byte_allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&b)
}

fn valid_optional_port(port: &str) -> bool {
    match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
    }
}

fn check_escapes(s: &str) -> Result<(), String> {
    for (i, b) in s.bytes().enumerate() {
        if b == b'%' {
            check_escape_at(s, i)?;
        }
    }
    Ok(())
}

fn check_escape_at(s: &str, i: usize) -> Result<(), String> {
    let bytes = s.as_bytes();
    let ok = i + 2 < bytes.len() && bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit();
    if ok {
        return Ok(());
    }
    let end = (i + 3).min(bytes.len());
    Err(format!("invalid URL escape {}", go_quote(&bytes[i..end])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        assert_eq!(parse("http://").map(|u| (u.scheme, u.host)), Ok(("http".into(), String::new())));
        assert_eq!(parse("HTTPS://h:80/x").map(|u| (u.scheme, u.host)), Ok(("https".into(), "h:80".into())));
        assert_eq!(parse("invalid").map(|u| u.scheme), Ok(String::new()));
        assert_eq!(parse("localhost:1234").map(|u| (u.scheme, u.host)), Ok(("localhost".into(), String::new())));
        assert_eq!(parse("unix:///var/run/docker.sock").map(|u| u.scheme), Ok("unix".into()));
        assert_eq!(parse("://invalid").unwrap_err(), r#"parse "://invalid": missing protocol scheme"#);
        assert_eq!(parse("http://h:x").unwrap_err(), r#"parse "http://h:x": invalid port ":x" after host"#);
        assert_eq!(parse("http://a b").unwrap_err(), r#"parse "http://a b": invalid character " " in host name"#);
        assert_eq!(parse("1a:b").unwrap_err(), r#"parse "1a:b": first path segment in URL cannot contain colon"#);
        assert!(parse("http://h/%zz").unwrap_err().contains("invalid URL escape \"%zz\""));
    }
}
