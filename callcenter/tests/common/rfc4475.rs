//! The RFC 4475 torture messages and what a user-agent server must do with each
//! (`tests/fixtures/rfc4475/EXPECTED.tsv`), read once for the message-layer tests
//! (`tests/rfc4475.rs`) and the live run against the service (`tests/e2e/torture.rs`).

pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rfc4475");

pub struct Row {
    pub file: String,
    pub kind: String,
    pub expected: String,
}

pub fn rows() -> Vec<Row> {
    let tsv = std::fs::read_to_string(format!("{DIR}/EXPECTED.tsv")).expect("EXPECTED.tsv");
    tsv.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                file: f[0].into(),
                kind: f[2].into(),
                expected: f[3].into(),
            }
        })
        .collect()
}

pub fn message(file: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}/{file}.dat")).expect("fixture")
}
