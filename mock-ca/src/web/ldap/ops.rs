//! What each request does: binds through the session, searches over the
//! forest computed now (the rootDSE and the subschema to anyone, the rest
//! to those signed in), paged results and the SD-flags control, "who am
//! I?", StartTLS; every bind, search and write journaled.

use adcs_proto::ldap::{
    self, control, oid, response, Done, Op, Outcome, Request, ResultCode, SearchRequest,
    SearchRequestScope,
};
use adcs_proto::sd::part;

use super::super::journal::JournalEntry;
use super::super::Shared;
use super::{Next, Session};
use crate::forest::{self, root_dse, search, write, Naming};

/// AD's MaxPageSize: a search without paging returns this many entries.
const MAX_PAGE_SIZE: usize = 1000;

const BIND_REQUIRED: &str = "000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a successful bind must be completed on the connection., data 0, v4563\0";
const WILL_NOT_PERFORM: &str =
    "0000209A: SvcErr: DSID-03152D2C, problem 5003 (WILL_NOT_PERFORM), data 0\n\0";
const UNAVAILABLE_EXTENSION: &str =
    "000020EF: SvcErr: DSID-03140594, problem 5010 (UNAVAIL_EXTENSION), data 0\n\0";

pub(super) fn answer(shared: &Shared, session: &mut Session, request: Request) -> Next {
    let Some(naming) = shared.ldap.as_ref() else {
        return Next::Close;
    };
    let id = request.id;
    match request.op {
        Op::Bind(bind) => {
            let a = session.bind(shared, naming, &bind);
            let detail = format!(
                "bind as `{}`: {}{}",
                bind.name,
                code_text(&a.outcome),
                a.why
                    .as_deref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default()
            );
            journal(shared, session, "ldap/bind", &a.outcome, detail);
            Next::Send(vec![response::bind(
                id,
                &a.outcome,
                &a.matched_dn,
                a.sasl_creds.as_deref(),
            )])
        }
        Op::Search(s) => Next::Send(search_op(
            shared,
            session,
            naming,
            id,
            &s,
            &request.controls,
        )),
        Op::Modify(m) => {
            let o = modify(shared, session, naming, &m, &request.controls);
            let attrs: Vec<&str> = m
                .changes
                .iter()
                .map(|c| c.modification.r#type.as_str())
                .collect();
            let detail = format!(
                "modify {} ({}): {}",
                &*m.object,
                attrs.join(", "),
                code_text(&o)
            );
            journal(shared, session, "ldap/modify", &o, detail);
            Next::Send(vec![response::done(id, Done::Modify, &o, &[])])
        }
        Op::Extended { name, .. } => extended(shared, session, id, &name),
        Op::Unbind => Next::Close,
        Op::Abandon(_) => Next::Send(Vec::new()),
        Op::Other { response_tag } => {
            let o = Outcome::new(ResultCode::UnwillingToPerform, WILL_NOT_PERFORM);
            let kind = Done::from_tag(response_tag).unwrap_or(Done::Modify);
            Next::Send(vec![response::done(id, kind, &o, &[])])
        }
    }
}

/// A ModifyRequest: a template written by someone its DACL lets write it
/// becomes the template the CA issues from next.
fn modify(
    shared: &Shared,
    session: &Session,
    naming: &Naming,
    m: &ldap::ModifyRequest,
    controls: &[control::Control],
) -> Outcome {
    let Some(who) = session.identity() else {
        return Outcome::new(ResultCode::OperationsError, BIND_REQUIRED);
    };
    let changes = write::Change::all_of(m);
    let parts = sd_parts(controls);
    match write::modify(
        &shared.ca,
        &shared.directory,
        naming,
        who,
        &m.object,
        &changes,
        parts,
    ) {
        Ok(t) => match shared.ca.put_template(t) {
            Ok(()) => Outcome::success(),
            Err(e) => Outcome::new(ResultCode::Other, e.to_string()),
        },
        Err(o) => o,
    }
}

/// Who sends a request, as a fault's journal entry names them (taken
/// from the session before any wait, which the session may not cross).
pub(super) struct Caller {
    pub tls: bool,
    pub account: Option<String>,
    pub auth: &'static str,
}

impl Caller {
    pub(super) fn of(session: &Session) -> Caller {
        Caller {
            tls: session.is_tls(),
            account: session.identity().map(|i| i.account.clone()),
            auth: session.method(),
        }
    }
}

/// The fault rules on this operation (`ldap/bind`, `ldap/search`, …):
/// their delays waited out, then a reset or a result code in place of
/// the answer (`None`: answer as usual). Each hit is journaled.
pub(super) async fn injected(shared: &Shared, who: Caller, request: &Request) -> Option<Next> {
    let (endpoint, kind) = match &request.op {
        Op::Bind(_) => ("ldap/bind", None),
        Op::Search(_) => ("ldap/search", Some(Done::Search)),
        Op::Modify(_) => ("ldap/modify", Some(Done::Modify)),
        Op::Extended { .. } => ("ldap/extended", None),
        _ => return None,
    };
    let method = if who.tls { "LDAPS" } else { "LDAP" };
    let hits = shared.faults.hits(endpoint, method, &shared.ca.seed());
    if hits.is_empty() {
        return None;
    }
    for (rule, _) in &hits {
        if let Some(ms) = rule.delay_ms {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
    }
    let reset = hits.iter().any(|(r, _)| r.reset);
    let code = hits
        .iter()
        .find_map(|(r, _)| r.result.and_then(ldap::result_code));
    if !reset && code.is_none() {
        return None;
    }
    let description = hits
        .iter()
        .map(|(r, n)| format!("{} ({endpoint} {n})", r.describe()))
        .collect::<Vec<_>>()
        .join("; ");
    let outcome = Outcome::new(code.unwrap_or(ResultCode::Other), "");
    shared.journal.record(JournalEntry {
        seq: 0,
        time: shared.ca.clock().now(),
        method: method.into(),
        path: endpoint.into(),
        user: who.account,
        auth: Some(who.auth.into()),
        status: outcome.code as u16,
        request_id: None,
        disposition: None,
        detail: None,
        fault: Some(description),
    });
    if reset {
        return Some(Next::Close);
    }
    let id = request.id;
    Some(Next::Send(vec![match kind {
        Some(kind) => response::done(id, kind, &outcome, &[]),
        None if endpoint == "ldap/bind" => response::bind(id, &outcome, &[], None),
        None => response::extended(id, &outcome, None, None),
    }]))
}

fn code_text(o: &Outcome) -> String {
    format!("{:?} ({})", o.code, o.code as u8)
}

fn journal(shared: &Shared, session: &Session, path: &str, o: &Outcome, detail: String) {
    shared.journal.record(JournalEntry {
        seq: 0,
        time: shared.ca.clock().now(),
        method: if session.is_tls() { "LDAPS" } else { "LDAP" }.into(),
        path: path.into(),
        user: session.identity().map(|i| i.account.clone()),
        auth: Some(session.method().into()),
        status: o.code as u16,
        request_id: None,
        disposition: None,
        detail: Some(detail),
        fault: None,
    });
}

fn extended(shared: &Shared, session: &mut Session, id: u32, name: &str) -> Next {
    match name {
        oid::WHOAMI => {
            let who = session
                .identity()
                .map(|i| format!("u:{}", i.account))
                .unwrap_or_default();
            Next::Send(vec![response::extended(
                id,
                &Outcome::success(),
                None,
                Some(who.as_bytes()),
            )])
        }
        oid::START_TLS if !session.is_tls() => {
            let o = Outcome::success();
            journal(shared, session, "ldap/starttls", &o, "StartTLS".into());
            Next::StartTls(response::extended(id, &o, Some(oid::START_TLS), None))
        }
        _ => {
            let o = Outcome::new(
                ResultCode::ProtocolError,
                format!("00000057: LdapErr: DSID-0C090E09, comment: Error in extended operation {name}, data 0, v4563\0"),
            );
            Next::Send(vec![response::extended(id, &o, None, None)])
        }
    }
}

/// The parts of nTSecurityDescriptor to return: the SD-flags control's,
/// else owner, group and DACL (no SACL without the privilege).
fn sd_parts(controls: &[control::Control]) -> u32 {
    let all = part::OWNER | part::GROUP | part::DACL;
    control::find(controls, control::SD_FLAGS)
        .and_then(|c| c.value.as_deref())
        .and_then(|v| control::sd_flags(v).ok())
        .map(|f| f & all)
        .filter(|f| *f != 0)
        .unwrap_or(all)
}

fn scope_name(s: SearchRequestScope) -> &'static str {
    match s {
        SearchRequestScope::BaseObject => "base",
        SearchRequestScope::SingleLevel => "one",
        _ => "sub",
    }
}

fn search_op(
    shared: &Shared,
    session: &Session,
    naming: &Naming,
    id: u32,
    s: &SearchRequest,
    controls: &[control::Control],
) -> Vec<Vec<u8>> {
    let (mut out, outcome, reply_controls, found) =
        run_search(shared, session, naming, id, s, controls);
    let detail = format!(
        "base `{}` scope {} filter {}: {} entries, {}",
        &*s.base_object,
        scope_name(s.scope),
        ldap::filter_text(&s.filter),
        found,
        code_text(&outcome)
    );
    journal(shared, session, "ldap/search", &outcome, detail);
    out.push(response::done(id, Done::Search, &outcome, &reply_controls));
    out
}

type Searched = (Vec<Vec<u8>>, Outcome, Vec<control::Control>, usize);

fn run_search(
    shared: &Shared,
    session: &Session,
    naming: &Naming,
    id: u32,
    s: &SearchRequest,
    controls: &[control::Control],
) -> Searched {
    let fail = |o: Outcome| (Vec::new(), o, Vec::new(), 0);
    if controls
        .iter()
        .any(|c| c.critical && !control::SUPPORTED.contains(&c.oid.as_str()))
    {
        return fail(Outcome::new(
            ResultCode::UnavailableCriticalExtension,
            UNAVAILABLE_EXTENSION,
        ));
    }
    let asked: Vec<String> = s.attributes.iter().map(|a| a.0.clone()).collect();
    let base = s.base_object.trim();
    if base.is_empty() && s.scope == SearchRequestScope::BaseObject {
        let attrs = root_dse::attributes(
            naming,
            shared.ca.clock().now(),
            4096 + shared.ca.next_request_id() as i64,
        );
        let attrs = root_dse::select(attrs, &asked, s.types_only);
        return (
            vec![response::entry(id, "", &attrs)],
            Outcome::success(),
            Vec::new(),
            1,
        );
    }
    let anonymous_ok = forest::normalize_dn(base) == forest::normalize_dn(&naming.subschema_dn());
    if session.identity().is_none() && !anonymous_ok {
        return fail(Outcome::new(ResultCode::OperationsError, BIND_REQUIRED));
    }
    let objects = forest::objects(&shared.ca, &shared.directory, naming);
    let reached = match search::scope(&objects, naming, base, s.scope) {
        Ok(r) => r,
        Err(o) => return fail(o),
    };
    let index = search::Index::new(&objects);
    let hits: Vec<&forest::Entry> = reached
        .into_iter()
        .filter(|e| search::matches(e, &s.filter, &index) == Some(true))
        .collect();
    let (page, outcome, reply) = paged(&hits, s, controls);
    let parts = sd_parts(controls);
    let out = page
        .iter()
        .map(|e| response::entry(id, &e.dn, &search::project(e, &asked, parts, s.types_only)))
        .collect();
    (out, outcome, reply, page.len())
}

/// The slice of `hits` this request gets: a page and the cookie of the
/// next (empty on the last), or at most the size limit (AD's MaxPageSize
/// without one) and sizeLimitExceeded beyond it.
fn paged<'a>(
    hits: &'a [&'a forest::Entry],
    s: &SearchRequest,
    controls: &[control::Control],
) -> (&'a [&'a forest::Entry], Outcome, Vec<control::Control>) {
    let paging = control::find(controls, control::PAGED_RESULTS)
        .and_then(|c| c.value.as_deref())
        .and_then(|v| control::Paged::parse(v).ok());
    if let Some(p) = paging {
        let start = <[u8; 4]>::try_from(p.cookie.as_slice())
            .map(|b| u32::from_be_bytes(b) as usize)
            .unwrap_or(0)
            .min(hits.len());
        let size = (p.size as usize).clamp(1, MAX_PAGE_SIZE);
        let end = (start + size).min(hits.len());
        let cookie = if end < hits.len() && p.size > 0 {
            (end as u32).to_be_bytes().to_vec()
        } else {
            Vec::new()
        };
        let page = if p.size == 0 {
            &hits[..0]
        } else {
            &hits[start..end]
        };
        let reply = control::Paged { size: 0, cookie }.control(false);
        return (page, Outcome::success(), vec![reply]);
    }
    let limit = match s.size_limit as usize {
        0 => MAX_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    };
    if hits.len() > limit {
        let o = Outcome::new(ResultCode::SizeLimitExceeded, "");
        return (&hits[..limit], o, Vec::new());
    }
    (hits, Outcome::success(), Vec::new())
}
