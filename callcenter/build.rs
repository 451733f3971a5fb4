//! Build the shipped IVR flows and prompts (`../ivr-scripts`) into the binary, so `aftercare
//! serve` works from any directory: on first start it writes them to its data directory.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ivr-scripts");
    println!("cargo:rerun-if-changed={}", root.display());
    println!("cargo:rerun-if-changed={}", root.join("prompts").display());
    let mut files = vec![];
    for (dir, prefix) in [(root.clone(), ""), (root.join("prompts"), "prompts/")] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            let ext = p.extension().and_then(|x| x.to_str()).unwrap_or("");
            if matches!(ext, "toml" | "wav" | "md" | "tsv" | "sh") && p.is_file() {
                let name = format!("{prefix}{}", p.file_name().unwrap().to_string_lossy());
                files.push((name, p.canonicalize().unwrap()));
            }
        }
    }
    files.sort();
    let mut out = String::from("/// The shipped flows and prompts: (path under the flow directory, contents).\npub const SHIPPED: &[(&str, &[u8])] = &[\n");
    for (name, path) in files {
        let _ = writeln!(out, "    ({name:?}, include_bytes!({:?})),", path.display().to_string());
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("shipped_flows.rs");
    std::fs::write(dest, out).unwrap();
}
