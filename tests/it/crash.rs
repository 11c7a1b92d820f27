//! Crash: `serve` with a state directory is killed (SIGKILL on Unix,
//! TerminateProcess on Windows) at random moments during load, several
//! rounds, and restarted each time. Every request a client saw
//! acknowledged is still there and consistent, every issued certificate
//! retrieves as the bytes handed over, and request IDs continue past every
//! ID handed out before. The moments come from a seeded RNG (printed;
//! `ADCS_CRASH_SEED=N` replays a run).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use adcs_harness::load::{self, Acknowledged, LoadOptions, Target};
use adcs_proto::ready::ReadyInfo;

const ROUNDS: usize = 4;

fn spawn(state: &Path, ready: &Path) -> (Child, ReadyInfo) {
    let _ = std::fs::remove_file(ready);
    let child = Command::new(env!("CARGO_BIN_EXE_adcs-harness"))
        .args(["serve", "--http", "--ready-file"])
        .arg(ready)
        .arg("--state-dir")
        .arg(state)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !ready.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no ready file after a restart over {}",
            state.display()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let info = serde_json::from_slice(&std::fs::read(ready).unwrap()).unwrap();
    (child, info)
}

/// splitmix64: a small seeded sequence for the kill moments.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[test]
fn kill_9_during_load_loses_nothing_acknowledged() {
    let seed: u64 = std::env::var("ADCS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c4a5);
    println!("crash seed {seed} (ADCS_CRASH_SEED={seed} replays it)");
    let mut rng = seed;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let ready = dir.path().join("ready.json");
    let (mut child, mut info) = spawn(&state, &ready);
    let mut all = Acknowledged::default();
    let opts = LoadOptions {
        clients: 8,
        submissions: usize::MAX,
        ..LoadOptions::default()
    };
    for round in 0..ROUNDS {
        let target = Target::from_ready(&info).unwrap();
        let stop = AtomicBool::new(false);
        let kill_after = Duration::from_millis(150 + next(&mut rng) % 600);
        let ack = std::thread::scope(|s| {
            let load = s.spawn(|| load::drive(&target, &opts, &stop));
            std::thread::sleep(kill_after);
            child.kill().unwrap();
            child.wait().unwrap();
            stop.store(true, Ordering::SeqCst);
            load.join().unwrap()
        });
        println!(
            "round {round}: killed after {kill_after:?}; {} submissions, {} issued, {} denied, {} revoked acknowledged",
            ack.submissions.len(),
            ack.issued.len(),
            ack.denied.len(),
            ack.revoked.len()
        );
        println!(
            "  first errors: {:?}",
            &ack.errors[..ack.errors.len().min(3)]
        );
        assert!(
            ack.submissions.len() > 5,
            "round {round}: the load ran before the kill"
        );
        assert!(!ack.errors.is_empty(), "round {round}: the kill was felt");
        // IDs continue: this round's IDs are past every earlier one.
        if let Some(before) = all.max_id() {
            let first = ack.submissions.iter().map(|(id, _)| *id).min().unwrap();
            assert!(
                first > before,
                "round {round}: ID {first} handed out after {before}"
            );
        }
        all.extend(ack);
        let (c, i) = spawn(&state, &ready);
        (child, info) = (c, i);
        let target = Target::from_ready(&info).unwrap();
        let v = load::verify(&target, &all, false)
            .unwrap_or_else(|e| panic!("round {round}, seed {seed}: {e}"));
        assert_eq!(v.requests, all.submissions.len());
        let mut control = adcs_client::control::ControlClient::from_ready_file(&ready).unwrap();
        let next_id = control.status().unwrap()["next_request_id"]
            .as_u64()
            .unwrap() as u32;
        assert!(next_id > all.max_id().unwrap(), "next ID {next_id}");
    }
    // A last clean round on the recovered CA: everything works as before.
    let target = Target::from_ready(&info).unwrap();
    let opts = LoadOptions {
        clients: 4,
        submissions: 40,
        ..LoadOptions::default()
    };
    let ack = load::drive(&target, &opts, &AtomicBool::new(false));
    assert!(ack.errors.is_empty(), "{:?}", ack.errors);
    assert!(ack
        .submissions
        .iter()
        .all(|(id, _)| *id > all.max_id().unwrap()));
    load::verify(&target, &ack, true).unwrap();
    let _ = child.kill();
    let _ = child.wait();
}
