# Shortcuts; each recipe is a plain cargo command.

test:
    cargo test --workspace

run:
    cargo run --release -- ca --state-dir ./ca-state init --seed 1 ; cargo run --release -- ca --state-dir ./ca-state list

lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
