#!/usr/bin/env python3
"""Runs the shell sessions the README and the guide show, as a reader
would paste them, and fails when a documented command or flag no longer
works.

Usage:
    python3 .ci/guide_sessions.py --bin DIR [--path DIR]... [--require-all] FILE...

A session is a ```sh block preceded by the line `<!-- ci: session -->`
(`<!-- ci: session needs=certipy,openssl -->` names the programs it needs
besides adcs-harness). Each runs in bash in a fresh folder, with HOME
there too (the client's store and registry), DIR (where adcs-harness is)
and each --path first on PATH. Every command must exit 0, or the code its
trailing comment gives (`# exit 3: pending`). A command ending in `&`
(`serve … &`) runs in the background and is stopped when the session
ends. `cargo …` lines are skipped: the suite's own build is on PATH. As
root, `sudo` and `sudo env PATH="$PATH"` are dropped (otherwise `sudo -n`).

Prints `PASS file:line` / `FAIL file:line: …` / `SKIP file:line: why` per
session, then `guide sessions: N passed, M failed, K skipped`. Exits 1 if
any failed, or (--require-all) any was skipped.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

MARK = re.compile(r"^\s*<!--\s*ci:\s*session(?:\s+needs=([\w,.-]+))?\s*-->\s*$")
EXIT = re.compile(r"#.*\bexit\s+(\d+)")
# Each session's bound; it only matters when something hangs.
SESSION_TIMEOUT = 900


class Session:
    def __init__(self, path, line, needs, commands):
        self.path, self.line, self.needs, self.commands = path, line, needs, commands

    def where(self):
        return f"{self.path}:{self.line}"


def sessions(path):
    """The marked sh blocks of one Markdown file, as (line, command) lists
    with continuation lines joined."""
    lines = open(path, encoding="utf-8").read().split("\n")
    found = []
    i = 0
    while i < len(lines):
        m = MARK.search(lines[i])
        i += 1
        if not m:
            continue
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i >= len(lines) or lines[i].strip() != "```sh":
            raise SystemExit(f"{path}:{i}: a session mark must come right before a ```sh block")
        start = i + 1
        commands, pending, at = [], "", None
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            text = lines[i]
            if at is None:
                at = i + 1
            if text.rstrip().endswith("\\"):
                pending += text.rstrip()[:-1] + " "
            else:
                if (pending + text).strip():
                    commands.append((at, pending + text))
                pending, at = "", None
            i += 1
        needs = [n for n in (m.group(1) or "").split(",") if n]
        found.append(Session(path, start, needs, commands))
    return found


def as_root(command):
    if os.geteuid() != 0:
        # Never a password prompt: a session needing one fails instead.
        return re.sub(r"^sudo\s+", "sudo -n ", command)
    command = re.sub(r'^sudo\s+env\s+PATH="\$PATH"\s+', "", command)
    return re.sub(r"^sudo\s+", "", command)


def script(session):
    """The session as one bash script that checks each exit code."""
    out = ["set -u", "trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT"]
    for line, command in session.commands:
        text = command.strip()
        if text.startswith("cargo "):
            out.append(f"echo '+ skipped (the suite has built it): {text}'")
            continue
        text = as_root(text)
        out.append(f"echo {shquote('+ ' + text)}")
        if text.endswith("&"):
            out.append(text)
            continue
        m = EXIT.search(text)
        expected = int(m.group(1)) if m else 0
        where = f"{session.path}:{line}"
        out.append(text)
        out.append(
            f'rc=$?; if [ "$rc" -ne {expected} ]; then '
            f"echo {shquote(f'FAIL {where}: exit ')}\"$rc\"{shquote(f', expected {expected}: {text}')}; exit 1; fi"
        )
    return "\n".join(out) + "\n"


def shquote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def run(session, env):
    missing = [n for n in session.needs if not shutil.which(n, path=env["PATH"])]
    if missing:
        return "skip", "not on PATH: " + ", ".join(missing)
    with tempfile.TemporaryDirectory() as home:
        env = dict(env, HOME=home)
        p = subprocess.Popen(
            ["bash", "-c", script(session)],
            cwd=home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            out, _ = p.communicate(timeout=SESSION_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
            return "fail", f"still running after {SESSION_TIMEOUT} s\n" + out.decode(errors="replace")
        finally:
            # Whatever the session left in the background.
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        text = out.decode(errors="replace")
        if p.returncode != 0:
            return "fail", text
        return "pass", text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="the folder with adcs-harness")
    ap.add_argument("--path", action="append", default=[], help="more folders for PATH")
    ap.add_argument("--require-all", action="store_true", help="a skipped session fails")
    ap.add_argument("--verbose", action="store_true", help="print every session's output")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    dirs = [os.path.abspath(d) for d in [a.bin] + a.path]
    env = dict(os.environ, PATH=os.pathsep.join(dirs + [os.environ.get("PATH", "")]))
    counts = {"pass": 0, "fail": 0, "skip": 0}
    for f in a.files:
        for s in sessions(f):
            verdict, text = run(s, env)
            counts[verdict] += 1
            if verdict == "pass":
                print(f"PASS {s.where()} ({len(s.commands)} commands)", flush=True)
            elif verdict == "skip":
                print(f"SKIP {s.where()}: {text}", flush=True)
            else:
                print(f"FAIL {s.where()}:\n{text}", flush=True)
            if a.verbose and verdict == "pass":
                print(text)
    print(f"guide sessions: {counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
    if counts["fail"] or (a.require_all and counts["skip"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
