//! Ending `serve` in order when the process is asked to: a container's
//! stop (SIGTERM to PID 1, which has no default action there, so podman
//! and docker would wait ten seconds and kill it), Ctrl-C, a closed
//! terminal. Dropping the server afterwards stops the KDC and removes the
//! temporary folders, which a killed process leaves behind.

use std::io;
use std::time::Duration;

/// Blocks until a termination signal arrives (its name) or
/// `still_running` turns false (`None`: the server stopped by itself;
/// checked every 200 ms).
pub fn wait(still_running: impl Fn() -> bool) -> io::Result<Option<&'static str>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let signal = termination();
        tokio::pin!(signal);
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                name = &mut signal => return name.map(Some),
                _ = tick.tick() => {
                    if !still_running() {
                        return Ok(None);
                    }
                }
            }
        }
    })
}

#[cfg(unix)]
async fn termination() -> io::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        _ = hup.recv() => "SIGHUP",
    })
}

#[cfg(windows)]
async fn termination() -> io::Result<&'static str> {
    tokio::signal::ctrl_c().await?;
    Ok("Ctrl-C")
}
