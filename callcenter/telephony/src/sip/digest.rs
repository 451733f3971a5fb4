//! HTTP digest authentication as SIP uses it (RFC 3261 §22, RFC 8760 for SHA-256): the client
//! side, answering a trunk's 401/407 challenge. MD5 and SHA-256, with and without qop=auth.

use md5::Md5;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }
    fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(data.as_bytes())),
            Algorithm::Sha256 => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }
}

/// One challenge from a WWW-Authenticate or Proxy-Authenticate header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// The server offered qop=auth.
    pub qop_auth: bool,
}

/// Parse `Digest realm="…", nonce="…", …`. Challenges with an algorithm we do not know (or
/// `-sess` variants) are refused, so the caller can pick another header.
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    let rest = value.trim();
    let (scheme, params) = rest.split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return None;
    }
    let mut realm = None;
    let mut nonce = None;
    let mut opaque = None;
    let mut algorithm = Algorithm::Md5;
    let mut qop_auth = false;
    for p in super::message::split_commas(params) {
        let (k, v) = p.split_once('=')?;
        let v = v.trim().trim_matches('"').to_string();
        match k.trim().to_ascii_lowercase().as_str() {
            "realm" => realm = Some(v),
            "nonce" => nonce = Some(v),
            "opaque" => opaque = Some(v),
            "algorithm" => {
                algorithm = match v.to_ascii_uppercase().as_str() {
                    "MD5" => Algorithm::Md5,
                    "SHA-256" => Algorithm::Sha256,
                    _ => return None,
                }
            }
            "qop" => qop_auth = v.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth")),
            _ => {}
        }
    }
    Some(Challenge {
        realm: realm?,
        nonce: nonce?,
        opaque,
        algorithm,
        qop_auth,
    })
}

/// Of several challenges, the strongest we support (SHA-256 before MD5, RFC 8760 §2.4).
pub fn best<'a>(values: impl Iterator<Item = &'a str>) -> Option<Challenge> {
    let mut all: Vec<Challenge> = values.filter_map(parse_challenge).collect();
    all.sort_by_key(|c| match c.algorithm {
        Algorithm::Sha256 => 0,
        Algorithm::Md5 => 1,
    });
    all.into_iter().next()
}

/// The Authorization (or Proxy-Authorization) header value answering `c`.
pub fn authorization(
    c: &Challenge,
    username: &str,
    password: &str,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> String {
    let alg = c.algorithm;
    let ha1 = alg.hash(&format!("{username}:{}:{password}", c.realm));
    let ha2 = alg.hash(&format!("{method}:{uri}"));
    let nc = format!("{nc:08x}");
    let response = if c.qop_auth {
        alg.hash(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", c.nonce))
    } else {
        alg.hash(&format!("{ha1}:{}:{ha2}", c.nonce))
    };
    let mut out = format!(
        "Digest username=\"{username}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\", algorithm={}",
        c.realm,
        c.nonce,
        alg.name()
    );
    if c.qop_auth {
        out.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""));
    }
    if let Some(o) = &c.opaque {
        out.push_str(&format!(", opaque=\"{o}\""));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(header: &'a str, name: &str) -> &'a str {
        let start = header.find(&format!("{name}=")).unwrap() + name.len() + 1;
        header[start..].split(',').next().unwrap().trim_matches('"')
    }

    /// The worked example of RFC 7616 §3.9.1 (the same digest computation SIP uses).
    #[test]
    fn rfc7616_example_sha256_and_md5() {
        let header = r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
        let c = parse_challenge(header).unwrap();
        assert_eq!((c.algorithm, c.qop_auth), (Algorithm::Sha256, true));
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let a = authorization(&c, "Mufasa", "Circle of Life", "GET", "/dir/index.html", cnonce, 1);
        assert_eq!(
            field(&a, "response"),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        assert!(a.contains("nc=00000001") && a.contains("opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""));
        let md5 = parse_challenge(&header.replace("SHA-256", "MD5")).unwrap();
        let a = authorization(&md5, "Mufasa", "Circle of Life", "GET", "/dir/index.html", cnonce, 1);
        assert_eq!(field(&a, "response"), "8ca523f5e9506fed4657c9700eebdbec");
    }

    /// RFC 2617 §3.5 style without qop: response = H(HA1:nonce:HA2).
    #[test]
    fn without_qop() {
        let c = parse_challenge(r#"Digest realm="trunk", nonce="abc""#).unwrap();
        let a = authorization(&c, "u", "p", "INVITE", "sip:1@trunk", "x", 1);
        let ha1 = hex::encode(Md5::digest(b"u:trunk:p"));
        let ha2 = hex::encode(Md5::digest(b"INVITE:sip:1@trunk"));
        let want = hex::encode(Md5::digest(format!("{ha1}:abc:{ha2}").as_bytes()));
        assert_eq!(field(&a, "response"), want);
        assert!(!a.contains("qop"));
    }

    #[test]
    fn prefers_sha256_and_skips_unknown() {
        let hs = [
            r#"Digest realm="r", nonce="1", algorithm=MD5"#,
            r#"Digest realm="r", nonce="2", algorithm=SHA-512-256"#,
            r#"Digest realm="r", nonce="3", algorithm=SHA-256"#,
        ];
        assert_eq!(best(hs.into_iter()).unwrap().nonce, "3");
        assert!(parse_challenge("Basic realm=\"r\"").is_none());
        assert!(parse_challenge("Digest nonce=\"1\"").is_none());
    }
}
