//! Fault rules applied to one page: the rules that hit a request decide
//! whether the page runs at all (a status, an error page, a reset, a forced
//! denial or pending state) and how its answer is spoiled afterwards (a cut,
//! scrambled or mislabelled body). Shared by certsrv and NDES.

use std::sync::Arc;

use hyper::StatusCode;

use super::{faults, pages, replies, Injected, Reply, Request, Shared};
use adcs_proto::protocol::{endpoint, Disposition, HResult};

/// Serves a certsrv page through the fault rules that hit it: a status,
/// an error page or a reset instead of the page; a delay before it; a cut,
/// scrambled or mislabelled body after it.
pub(super) async fn inject<F: std::future::Future<Output = Reply>>(
    shared: &Arc<Shared>,
    req: &Request,
    page: &str,
    serve: impl FnOnce(Option<crate::ca::PolicyOverride>) -> F,
) -> Reply {
    let seed = shared.ca.seed();
    let hits = shared.faults.hits(page, req.method.as_str(), &seed);
    if hits.is_empty() {
        return serve(None).await;
    }
    let describe = hits
        .iter()
        .map(|(r, n)| format!("{} (request {n} to {})", r.describe(), r.endpoint))
        .collect::<Vec<_>>()
        .join("; ");
    for (rule, _) in &hits {
        if let Some(ms) = rule.delay_ms {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
    }
    let first = |f: fn(&faults::FaultRule) -> bool| hits.iter().find(|(r, _)| f(r));
    let mut injected = Injected {
        description: describe,
        reset: first(|r| r.reset).is_some(),
        content_type: None,
    };
    let mut reply = if injected.reset {
        Reply::status(500, "reset")
    } else if let Some((r, _)) = first(|r| r.status.is_some()) {
        let code = r.status.unwrap_or(500);
        let reason = StatusCode::from_u16(code)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Injected Fault");
        let mut reply = Reply::status(code, reason);
        if code == 503 || code == 429 {
            reply.headers.push(("Retry-After", "1".into()));
        }
        reply
    } else if let Some((r, _)) = first(|r| r.hresult.is_some()) {
        let h = HResult(
            r.hresult
                .as_deref()
                .and_then(faults::parse_hresult)
                .unwrap_or(0x8007_06BA),
        );
        let context = if page == endpoint::SUBMIT {
            pages::ErrorContext::NewRequest
        } else {
            pages::ErrorContext::Fetch
        };
        replies::error_page(context, endpoint::MODE_NEW, None, h, Some(h))
    } else if let Some((r, _)) = first(|r| r.deny_hresult.is_some()) {
        let h = r.deny_hresult.as_deref().and_then(faults::parse_hresult);
        serve(Some(crate::ca::PolicyOverride::Deny(HResult(
            h.unwrap_or(HResult::E_INVALIDARG.0),
        ))))
        .await
    } else if let Some((r, _)) = first(|r| r.pending_polls.is_some()) {
        let reply = serve(Some(crate::ca::PolicyOverride::Pending)).await;
        if let (Some(id), Some(Disposition::Pending)) = (reply.request_id, reply.disposition) {
            let issue = r.then.as_deref() != Some("deny");
            shared.held.hold(id, r.pending_polls.unwrap_or(0), issue);
        }
        reply
    } else {
        serve(None).await
    };
    for (rule, n) in &hits {
        if let Some(ct) = &rule.content_type {
            injected.content_type = Some(ct.clone());
        }
        if rule.garble {
            faults::garble(&mut reply.body, &seed, *n);
        }
        if let Some(t) = rule.truncate {
            reply.body.truncate(t);
        }
    }
    reply.fault = Some(Box::new(injected));
    reply
}
