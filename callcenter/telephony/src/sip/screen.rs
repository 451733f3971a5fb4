//! What a user-agent server does with a datagram before any transaction or dialog sees it: parse
//! strictly, then refuse what RFC 3261 §8.2 says a UAS must refuse, with the right status and the
//! header fields that status requires (Allow, Unsupported, Accept, WWW-Authenticate).

use super::message::{parse, Message, Refusal, StartLine};

/// What this UAS supports.
#[derive(Debug, Clone)]
pub struct Policy {
    pub methods: &'static [&'static str],
    pub schemes: &'static [&'static str],
    /// Option tags we implement (answers 420 to any other in Require).
    pub extensions: &'static [&'static str],
    /// Body types we understand.
    pub content_types: &'static [&'static str],
    /// Methods answered with a digest challenge unless they carry Digest credentials.
    pub challenge: &'static [&'static str],
    pub realm: &'static str,
}

impl Policy {
    /// The `Allow` header field: the same in every answer that carries one.
    pub fn allow(&self) -> String {
        self.methods.join(", ")
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            methods: &["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO"],
            schemes: &["sip", "sips", "tel"],
            extensions: &[],
            content_types: &[
                "application/sdp",
                "multipart/mixed",
                "multipart/alternative",
                "application/dtmf-relay",
            ],
            challenge: &["REGISTER"],
            realm: "aftercare",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A well-formed request this UAS handles; on to the transaction layer.
    Request(Message),
    /// A well-formed response; the transaction layer matches it or drops it.
    Response(Message),
    /// Answer the request with this status and these extra header fields.
    Respond {
        code: u16,
        reason: String,
        headers: Vec<(&'static str, String)>,
    },
    /// Say nothing.
    Drop(String),
}

fn respond(code: u16, reason: impl Into<String>) -> Verdict {
    Verdict::Respond {
        code,
        reason: reason.into(),
        headers: vec![],
    }
}

pub fn screen(bytes: &[u8], datagram: bool, policy: &Policy) -> Verdict {
    let m = match parse(bytes, datagram) {
        Ok(m) => m,
        Err(Refusal::Respond(code, why)) => return respond(code, why),
        Err(Refusal::Drop(why)) => return Verdict::Drop(why),
    };
    let (method, uri) = match &m.start {
        StartLine::Response { .. } => return Verdict::Response(m),
        StartLine::Request { method, uri } => (method.clone(), uri.clone()),
    };
    for required in ["To", "From", "Call-ID", "CSeq", "Via"] {
        if m.header(required).is_none() {
            return respond(400, format!("missing {required}"));
        }
    }
    match m.cseq() {
        Some((_, cseq_method)) if cseq_method == method => {}
        _ => return respond(400, "CSeq method does not match the Request-Line"),
    }
    let scheme = uri.split(':').next().unwrap_or("");
    if !policy.schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        return respond(416, "Unsupported URI Scheme");
    }
    if !policy.methods.contains(&method.as_str()) {
        return Verdict::Respond {
            code: 501,
            reason: "Not Implemented".into(),
            headers: vec![("Allow", policy.allow())],
        };
    }
    if method != "ACK" && method != "CANCEL" {
        let unsupported: Vec<&str> = m.values("Require").filter(|t| !policy.extensions.contains(t)).collect();
        if !unsupported.is_empty() {
            return Verdict::Respond {
                code: 420,
                reason: "Bad Extension".into(),
                headers: vec![("Unsupported", unsupported.join(", "))],
            };
        }
    }
    if !m.body.is_empty() {
        let ct = m.header("Content-Type").unwrap_or("");
        let media = ct.split(';').next().unwrap_or("").trim();
        if !policy.content_types.iter().any(|t| t.eq_ignore_ascii_case(media)) {
            return Verdict::Respond {
                code: 415,
                reason: "Unsupported Media Type".into(),
                headers: vec![("Accept", "application/sdp".into())],
            };
        }
    }
    if method == "INVITE" && m.header("Accept").is_some() {
        let takes_sdp = m.values("Accept").any(|a| {
            let media = a.split(';').next().unwrap_or("").trim();
            ["application/sdp", "application/*", "*/*"]
                .iter()
                .any(|x| x.eq_ignore_ascii_case(media))
        });
        if !takes_sdp {
            return respond(406, "Not Acceptable");
        }
    }
    if m.header("Max-Forwards") == Some("0") && method != "OPTIONS" {
        return respond(483, "Too Many Hops");
    }
    if policy.challenge.contains(&method.as_str()) {
        let digest = m.values("Authorization").any(|a| {
            a.split_whitespace()
                .next()
                .is_some_and(|s| s.eq_ignore_ascii_case("Digest"))
        });
        if !digest {
            // A proper challenge (RFC 3261 §22.4, RFC 8760): a nonce, SHA-256 first and MD5 for
            // older clients. Nothing is ever registered here (the UA refuses REGISTER with
            // credentials alike for everyone), so the nonce guards nothing and is derived from
            // the request, which keeps this function pure: a retransmission gets the same one.
            let nonce = {
                use sha2::{Digest, Sha256};
                let mut h = Sha256::new();
                h.update(policy.realm.as_bytes());
                h.update(m.header("Call-ID").unwrap_or("").as_bytes());
                h.update(m.header("CSeq").unwrap_or("").as_bytes());
                hex::encode(&h.finalize()[..16])
            };
            let challenge = |algorithm: &str| {
                format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={algorithm}, qop=\"auth\"",
                    policy.realm
                )
            };
            return Verdict::Respond {
                code: 401,
                reason: "Unauthorized".into(),
                headers: vec![
                    ("WWW-Authenticate", challenge("SHA-256")),
                    ("WWW-Authenticate", challenge("MD5")),
                ],
            };
        }
    }
    Verdict::Request(m)
}
