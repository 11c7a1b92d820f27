# Shortcuts; each recipe is a plain cargo command.

test:
    cargo test --workspace

run:
    cargo run --release -- serve

interop:
    cargo build --bin adcs-harness
    bash tests/interop/run.sh target/debug/adcs-harness

browser:
    cargo build --bin adcs-harness
    bash tests/browser/run.sh target/debug/adcs-harness

lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
