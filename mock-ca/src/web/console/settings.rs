//! The CA, clock and faults page: Renew CA Certificate, the virtual clock
//! and the fault rules.

use super::*;

/// Clock and faults: the virtual clock (advance, set, freeze) and the
/// fault rules as JSON.
pub(super) fn settings(shared: &Shared, who: &Identity, faults_text: Option<&str>) -> String {
    let clock = shared.ca.clock();
    let now = clock.now();
    let rules = faults_text.map(str::to_string).unwrap_or_else(|| {
        serde_json::to_string_pretty(&shared.faults.rules()).expect("rules serialise")
    });
    let form = |action: &str| form_start(shared, who, action, "");
    let n = shared.ca.n_renewals();
    format!(
        "<h2>CA certificate</h2>\n<p>CA certificates: <b id=ca-count>{}</b> (renewals: {n}); the newest is valid until {}.</p>\n\
{f6}<input type=hidden name=new_key value=no><button id=renew-same-key>Renew CA certificate (same key)</button></form>\n\
{f7}<input type=hidden name=new_key value=yes><button id=renew-new-key>Renew CA certificate (new key)</button></form>\n\
<h2>Clock</h2>\n<p>CA time: <b id=clock-now>{}</b> ({}) &middot; <span id=clock-state>{}</span></p>\n\
{f1}<button name=advance value=3600>+1 hour</button> <button name=advance value=86400 id=advance-day>+1 day</button> \
<button name=advance value=2592000>+30 days</button></form>\n\
{f2}<label>Advance by seconds: <input name=advance id=advance size=10></label> <button id=advance-go>Advance</button></form>\n\
{f3}<label>Set to (YYYY-MM-DDTHH:MM:SSZ or Unix seconds): <input name=set id=clock-set size=24></label> <button id=set-go>Set</button></form>\n\
{f4}<button name=op value={op} id=freeze-toggle>{label}</button></form>\n\
<h2>Fault injection</h2>\n<p>Rules as JSON (see the README's fault rules); an empty list <code>[]</code> turns faults off.</p>\n\
{f5}<textarea name=rules id=rules rows=10 cols=80>{}</textarea><br><button id=save-faults>Save rules</button></form>\n",
        n + 1,
        shared
            .ca
            .ca_certificate(n)
            .and_then(|c| <x509_cert::Certificate as der::Decode>::from_der(&c).ok())
            .map(|c| {
                console_date(adcs_proto::x509::unix_time(
                    &c.tbs_certificate().validity().not_after,
                ))
            })
            .unwrap_or_default(),
        adcs_proto::x509::rfc3339(now),
        console_date(now),
        if clock.is_frozen() { "frozen" } else { "running" },
        escape(&rules),
        f1 = form("clock"),
        f2 = form("clock"),
        f3 = form("clock"),
        f4 = form("clock"),
        f5 = form("faults"),
        f6 = form("renew"),
        f7 = form("renew"),
        op = if clock.is_frozen() { "resume" } else { "freeze" },
        label = if clock.is_frozen() { "Let the clock run" } else { "Freeze the clock" },
    )
}

/// "Renew CA Certificate": a new CA certificate, with the same key or a new one.
pub(super) async fn renew(shared: &Arc<Shared>, who: &Identity, form: &Params) -> Reply {
    let new_key = form.get("new_key") == Some("yes");
    let ca = shared.ca.clone();
    match tokio::task::spawn_blocking(move || ca.renew_ca(new_key)).await {
        Ok(Ok(index)) => redirect(
            "settings",
            &format!(
                "The CA certificate was renewed with {} key: certificate {index}",
                if new_key { "a new" } else { "the same" }
            ),
        ),
        Ok(Err(e)) => refused(shared, who, "settings", refusal_status(&e), e.to_string()),
        Err(_) => refused(shared, who, "settings", 500, "the CA task failed".into()),
    }
}

pub(super) fn clock(shared: &Shared, who: &Identity, form: &Params) -> Reply {
    let clock = shared.ca.clock();
    let bad = |why: String| {
        let body = settings(shared, who, None);
        page(
            shared,
            who,
            "settings",
            Some(Banner::Refused(why)),
            &body,
            400,
        )
    };
    if let Some(t) = form.get("set").map(str::trim).filter(|t| !t.is_empty()) {
        match adcs_proto::x509::parse_time(t) {
            Some(t) => clock.set(t),
            None => return bad(format!("Set to: `{t}` is not a time")),
        }
    }
    if let Some(a) = form.get("advance").map(str::trim).filter(|a| !a.is_empty()) {
        match a.parse::<i64>() {
            Ok(s) => clock.advance(s),
            Err(_) => return bad(format!("Advance: `{a}` is not a number of seconds")),
        }
    }
    match form.get("op") {
        Some("freeze") => clock.freeze(),
        Some("resume") => clock.resume(),
        _ => {}
    }
    redirect(
        "settings",
        &format!("CA time is now {}", adcs_proto::x509::rfc3339(clock.now())),
    )
}

pub(super) fn faults(shared: &Shared, who: &Identity, form: &Params) -> Reply {
    let text = form.get("rules").unwrap_or("").trim();
    let parsed: Result<Vec<crate::web::faults::FaultRule>, String> = if text.is_empty() {
        Ok(Vec::new())
    } else {
        serde_json::from_str(text).map_err(|e| format!("Rules: {e}"))
    };
    let checked = parsed.and_then(|rules| {
        for r in &rules {
            r.validate().map_err(|e| format!("Rules: {e}"))?;
        }
        Ok(rules)
    });
    match checked {
        Ok(rules) => {
            let n = rules.len();
            shared.faults.set(rules);
            redirect("settings", &format!("{n} fault rule(s) in force"))
        }
        Err(why) => {
            let body = settings(shared, who, Some(text));
            page(
                shared,
                who,
                "settings",
                Some(Banner::Refused(why)),
                &body,
                400,
            )
        }
    }
}
