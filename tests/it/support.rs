//! What the end-to-end tests share: the test server and accounts
//! (`mock_ca::testing`), a snapshot of a store folder, and the files
//! under `fixtures/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use mock_ca::testing::*;

/// Every file of a store folder and its bytes, to prove a step changed nothing.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let digest = adcs_client::store::thumbprint(&std::fs::read(&p).unwrap());
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), digest);
            }
        }
    }
    out
}

const FIXTURES: &str = "fixtures";

/// A file of the project's own test inputs under `fixtures/`, as text.
pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(FIXTURES)
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
