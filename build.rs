//! Embeds every `signatures/*.toml` file into the binary (the default catalog).
use std::{env, fs, path::Path};

fn main() {
    println!("cargo:rerun-if-changed=signatures");
    let mut files: Vec<_> = fs::read_dir("signatures")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out = String::from("/// (file name, contents) of the built-in catalog.\npub const BUILTIN: &[(&str, &str)] = &[\n");
    for p in &files {
        println!("cargo:rerun-if-changed={}", p.display());
        let abs = fs::canonicalize(p).expect("signature file path");
        out.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            p.file_name().unwrap().to_string_lossy(),
            abs.display().to_string()
        ));
    }
    out.push_str("];\n");
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("builtin_signatures.rs");
    fs::write(dest, out).expect("write builtin_signatures.rs");
}
