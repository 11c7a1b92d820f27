//! Reading certsrv's answer pages (certsrv-protocol.md §3): what a
//! `certfnsh.asp` page or the error page says, as the real clients read
//! them. The server renders these pages from the same markers.

use crate::protocol::{marker, HResult};

/// The rows of certsrv's error page (§3.6) that say something.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorPage {
    pub disposition_message: Option<String>,
    pub result: Option<HResult>,
    pub last_status: Option<HResult>,
}

/// Undoes the HTML escaping certsrv applies to echoed text.
pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The first `0x…` code in `text` (as `Denied by Policy Module  0x80094800, …`
/// and `… 0x80094012 (-2146877422 …)` write it).
pub fn hresult_in(text: &str) -> Option<HResult> {
    let mut rest = text;
    while let Some(i) = rest.find("0x") {
        let hex: String = rest[i + 2..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        if !hex.is_empty() {
            return u32::from_str_radix(&hex, 16).ok().map(HResult);
        }
        rest = &rest[i + 2..];
    }
    None
}

/// The number right after `marker` in `text`.
pub fn digits_after(text: &str, marker: &str) -> Option<u32> {
    let i = text.find(marker)? + marker.len();
    text[i..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// The value of an error-page row: the line two TABs into the `<DD>`.
fn row(page: &str, label: &str) -> Option<String> {
    let i = page.find(label)? + label.len();
    let rest = &page[i..];
    let tabs = rest.find("\t\t")?;
    if rest[..tabs].contains('\t') {
        return None;
    }
    let value = rest[tabs + 2..].lines().next()?.trim();
    Some(unescape(value))
}

/// Reads the error page's rows.
pub fn parse_error_page(page: &str) -> ErrorPage {
    let message = row(page, marker::LABEL_DISPOSITION_MESSAGE)
        .filter(|m| !m.contains("(none)") && !m.is_empty());
    ErrorPage {
        disposition_message: message,
        result: row(page, "Result:").and_then(|r| hresult_in(&r)),
        last_status: row(page, marker::LABEL_LAST_STATUS).and_then(|r| hresult_in(&r)),
    }
}

/// What a `certfnsh.asp` answer says. An issued page gives the request ID
/// only (`Issued` needs the certificate: see the client's `WebEnrollment::submit`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageOutcome {
    Issued {
        id: u32,
    },
    Pending {
        id: Option<u32>,
    },
    Denied {
        id: Option<u32>,
        message: String,
        hresult: Option<HResult>,
    },
    Error(ErrorPage),
}

/// Classifies a certfnsh.asp page, in the order the real clients check.
pub fn parse_submit_page(page: &str) -> PageOutcome {
    let id = digits_after(page, marker::REQUEST_ID);
    if let Some(id) = digits_after(page, "certnew.cer?ReqID=") {
        return PageOutcome::Issued { id };
    }
    if page.contains(marker::PENDING_TITLE) {
        return PageOutcome::Pending { id };
    }
    if page.contains(marker::DENIED_TITLE) {
        let message = page
            .find(marker::DISPOSITION_MESSAGE)
            .map(|i| {
                let rest = &page[i + marker::DISPOSITION_MESSAGE.len()..];
                let end = rest
                    .find("\".")
                    .or_else(|| rest.find('"'))
                    .unwrap_or(rest.len());
                unescape(&rest[..end])
            })
            .unwrap_or_default();
        let hresult = hresult_in(&message);
        return PageOutcome::Denied {
            id,
            message,
            hresult,
        };
    }
    PageOutcome::Error(parse_error_page(page))
}
