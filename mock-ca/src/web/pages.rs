//! certsrv's HTML pages, built around the fragments real clients match
//! (shared/docs/certsrv-protocol.md §3). Every echoed value goes through
//! [`escape`]. Line structure matters: several clients grep the line after
//! a `function …() {` line, or read the value two TABs into a `<DD>`.

use crate::template::Template;
use adcs_proto::protocol::{endpoint, marker, HResult};

/// HTML-escapes text for element content and quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Which issued-page variant a User-Agent gets: IIS serves the script
/// variant to any UA containing `Mozilla` (case-sensitive), plain links to
/// the rest (§3.2).
pub fn is_script_client(user_agent: Option<&str>) -> bool {
    user_agent.is_some_and(|ua| ua.contains("Mozilla"))
}

fn page(body: &str) -> String {
    format!(
        "<HTML><Head>\r\n\
<Meta HTTP-Equiv=\"Content-Type\" Content=\"text/html; charset=UTF-8\">\r\n\
<Meta HTTP-Equiv=\"X-UA-Compatible\" Content=\"IE=7\">\r\n\
<Title>{title}</Title>\r\n\
</Head>\r\n\
<Body BgColor=#FFFFFF Link=#0000FF VLink=#0000FF ALink=#0000FF><Font ID=locPageFont Face=\"Arial\">\r\n\
<Table Border=0 CellSpacing=0 CellPadding=4 Width=100% BgColor=#008080>\r\n\
<TR>\r\n\
<TD><Font Color=#FFFFFF><LocID ID=locMSCertSrv><Font Face=\"Arial\" Size=-1><B><I>Microsoft</I></B> Active Directory Certificate Services</Font></LocID></Font></TD>\r\n\
<TD ID=locHomeAlign Align=Right><A Href=\"/certsrv\"><Font Color=#FFFFFF><LocID ID=locHomeLink><Font Face=\"Arial\" Size=-1><B>Home</B></Font></LocID></Font></A></TD>\r\n\
</TR>\r\n\
</Table>\r\n\
{body}\
</Font>\r\n\
</Body>\r\n\
</HTML>\r\n",
        title = marker::PAGE_TITLE,
    )
}

fn title(text: &str) -> String {
    format!("<P ID=locPageTitle> <B> {text} </B>\r\n<!-- Green HR -->\r\n<Table Border=0 CellSpacing=0 CellPadding=0 Width=100%><TR><TD BgColor=#008080><Img Src=\"certspc.gif\" Alt=\"\" Height=2 Width=1></TD></TR></Table>\r\n")
}

/// `/certsrv/`: the welcome page with its three tasks.
pub fn welcome(ca_cn: &str) -> String {
    page(&format!(
        "<Br>\r\n<Font Size=+1><B><LocID ID=locWelcome>Welcome</LocID></B></Font>\r\n\
<P ID=locPara1>Use this Web site to request a certificate for your Web browser, e-mail client, or other program. By using a certificate, you can verify your identity to people you communicate with over the Web, sign and encrypt messages, and, depending upon the type of certificate you request, perform other security tasks.</P>\r\n\
<P ID=locPara2>You can also use this Web site to download a certificate authority (CA) certificate, certificate chain, or certificate revocation list (CRL), or to view the status of a pending request.</P>\r\n\
<P ID=locCAName>This CA is <B>{ca}</B>.</P>\r\n\
<P><B><LocID ID=locTaskHead>Select a task:</LocID></B>\r\n\
<Br>&nbsp;&nbsp;&nbsp;&nbsp;<A Href=\"certrqus.asp\"><LocID ID=locRequestCert>Request a certificate</LocID></A>\r\n\
<Br>&nbsp;&nbsp;&nbsp;&nbsp;<A Href=\"certckpn.asp\"><LocID ID=locCheckPending>View the status of a pending certificate request</LocID></A>\r\n\
<Br>&nbsp;&nbsp;&nbsp;&nbsp;<A Href=\"certcarc.asp\"><LocID ID=locDownloadCA>Download a CA certificate, certificate chain, or CRL</LocID></A>\r\n\
</P>\r\n",
        ca = escape(ca_cn)
    ))
}

/// `certrqus.asp`: the "Request a Certificate" task page.
pub fn request_tasks() -> String {
    let mut b = title("Request a Certificate");
    b.push_str(&format!(
        "<P ID=locSelectType> Select the certificate type:\r\n\
<Br>&nbsp;&nbsp;&nbsp;&nbsp;Or, submit an <A Href=\"{}\"><LocID ID=locAdvanced>advanced certificate request</LocID></A>.\r\n",
        endpoint::ADVANCED_TASKS
    ));
    page(&b)
}

/// `certrqad.asp`: the two advanced paths: the CA makes the key, or the
/// user pastes a request made elsewhere.
pub fn advanced_tasks() -> String {
    let mut b = title("Advanced Certificate Request");
    b.push_str(&format!(
        "<P ID=locPolicy> The policy of the CA determines the types of certificates you can request. Click one of the following options to:\r\n\
<Br>&nbsp;&nbsp;&nbsp;&nbsp;<A Href=\"{}\"><LocID ID=locCreateSubmit>Create and submit a request to this CA.</LocID></A>\r\n\
<Br>&nbsp;&nbsp;&nbsp;&nbsp;<A Href=\"{}\"><LocID ID=locSubmitB64>Submit a certificate request by using a base-64-encoded CMC or PKCS #10 file, or submit a renewal request by using a base-64-encoded PKCS #7 file.</LocID></A>\r\n",
        endpoint::CREATE_REQUEST,
        endpoint::TEMPLATES
    ));
    page(&b)
}

/// `certrqma.asp`: "Create and submit a request to this CA". The CA makes
/// the key and answers with a PFX, so the form asks for its password.
/// `templates` is `None` on a stand-alone CA, which asks for the purpose
/// (EKU OIDs) instead.
pub fn create_request_form(templates: Option<&[Template]>) -> String {
    use adcs_proto::protocol::portal;
    let mut b = title("Advanced Certificate Request");
    b.push_str(&format!(
        "<Form Name=UIForm ID=UIForm Action=\"{}\" Method=Post>\r\n",
        endpoint::CREATE_REQUEST
    ));
    let field = |label: &str, name: &str, kind: &str, extra: &str| {
        format!(
            "<TR><TD Align=Right><Label For={name}>{label}</Label></TD><TD><Input Type={kind} Name={name} ID={name} Size=40{extra}></TD></TR>\r\n"
        )
    };
    match templates {
        Some(ts) => {
            b.push_str(&format!(
                "<P><B>Certificate Template:</B><Br>\r\n<Select Name={0} ID={0}>\r\n",
                portal::TEMPLATE
            ));
            if ts.is_empty() {
                b.push_str(&format!(
                    "<Option Value=\"\">{}</Option>\r\n",
                    marker::NO_TEMPLATES
                ));
            }
            for t in ts {
                b.push_str(&format!(
                    "<Option Value=\"{}\">{}</Option>\r\n",
                    escape(&t.name),
                    escape(&t.display_name)
                ));
            }
            b.push_str("</Select>\r\n");
        }
        None => {
            b.push_str("<P><B>Type of Certificate Needed:</B><Br>\r\n<Select ID=lbUsage OnChange=\"usageChanged();\">\r\n");
            for (label, oid) in portal::PURPOSES {
                b.push_str(&format!("<Option Value=\"{oid}\">{label}</Option>\r\n"));
            }
            b.push_str("<Option Value=\"\">Other...</Option>\r\n</Select>\r\n");
            b.push_str(&format!(
                "<Br><Label For={0}>OID:</Label> <Input Type=Text Name={0} ID={0} Size=60 Value=\"{1}\">\r\n",
                portal::EKU,
                portal::PURPOSES[0].1
            ));
        }
    }
    b.push_str("<P><B>Identifying Information:</B>\r\n<Table Border=0>\r\n");
    for (name, label) in portal::NAME_FIELDS {
        b.push_str(&field(label, name, "Text", ""));
    }
    b.push_str("</Table>\r\n<P><B>Key Options:</B>\r\n<Table Border=0>\r\n");
    b.push_str(&format!(
        "<TR><TD Align=Right>Key Usage:</TD><TD>\
<Input Type=Radio Name={0} ID=rbKuExchange Value=\"exchange\"><Label For=rbKuExchange>Exchange</Label> \
<Input Type=Radio Name={0} ID=rbKuSignature Value=\"signature\"><Label For=rbKuSignature>Signature</Label> \
<Input Type=Radio Name={0} ID=rbKuBoth Value=\"both\" Checked><Label For=rbKuBoth>Both</Label></TD></TR>\r\n\
<TR><TD Align=Right><Label For={1}>Key Size:</Label></TD><TD><Select Name={1} ID={1}><Option Value=\"2048\" Selected>2048</Option><Option Value=\"3072\">3072</Option><Option Value=\"4096\">4096</Option></Select></TD></TR>\r\n\
<TR><TD></TD><TD><Input Type=Checkbox Name={2} ID={2} Value=\"on\"><Label For={2}>Mark keys as exportable</Label></TD></TR>\r\n",
        portal::KEY_USAGE,
        portal::KEY_SIZE,
        portal::EXPORTABLE
    ));
    b.push_str("</Table>\r\n<P><B>Additional Options:</B>\r\n<Table Border=0>\r\n");
    b.push_str(&field("Friendly Name:", portal::FRIENDLY_NAME, "Text", ""));
    b.push_str(&field(
        "PFX password:",
        portal::PASSWORD,
        "Password",
        " Required AutoComplete=new-password",
    ));
    b.push_str(&format!(
        "<TR><TD Align=Right><Label For={0}>Attributes:</Label></TD><TD><TextArea Name={0} ID={0} Rows=2 Cols=30 Wrap=Off></TextArea></TD></TR>\r\n</Table>\r\n\
<P ID=locPfxNote><Font Size=-1>The CA makes the key pair and returns the certificate and key as a PFX file protected by this password.</Font>\r\n\
<P><Input Type=Submit ID=btnSubmit Value=\"Submit &gt;\">\r\n</Form>\r\n",
        portal::ATTRIBUTES
    ));
    if templates.is_none() {
        b.push_str(&format!(
            "<Script Language=\"JavaScript\">\r\n\
\tfunction usageChanged() {{\r\n\
\t\tdocument.getElementById(\"{0}\").value=document.getElementById(\"lbUsage\").value;\r\n\
\t\tdocument.getElementById(\"{0}\").focus();\r\n\
\t}}\r\n\
</Script>\r\n",
            portal::EKU
        ));
    }
    page(&b)
}

/// The issued page: script variant (handleGetCert/handleGetChain, whose
/// `location=` lines are the first in the page) or plain-link variant
/// (`locDownloadCert1`/`locDownloadCertChain1`).
/// `pfx` adds the link to the PFX of a request whose key the CA made.
pub fn issued(id: u32, script: bool, ca_renewal: u16, pfx: bool) -> String {
    let mut b = title(marker::ISSUED_TITLE);
    b.push_str(&format!(
        "<P ID=locInfoCertIssued> {}\r\n",
        marker::ISSUED_TEXT
    ));
    if pfx {
        b.push_str(&format!(
            "<P ID=locPfx>&nbsp;&nbsp;&nbsp;&nbsp;<A Href=\"{}?ReqID={id}\"><LocID ID=locDownloadPfx>Download certificate and private key (PFX)</LocID></A>\r\n",
            endpoint::PFX
        ));
    }
    if script {
        b.push_str(
            "<P><Table Border=0 CellSpacing=0 CellPadding=0>\r\n\
<TR><TD>&nbsp;&nbsp;&nbsp;&nbsp;</TD><TD><Input Type=Radio Name=rbEncoding ID=rbDerEncoding Value=\"bin\"><Label For=rbDerEncoding ID=locDerEnc>DER encoded</Label></TD>\r\n\
<TD>&nbsp;&nbsp;&nbsp;&nbsp;</TD><TD><Input Type=Radio Name=rbEncoding ID=rbB64Encoding Value=\"b64\" Checked><Label For=rbB64Encoding ID=locB64Enc>Base 64 encoded</Label></TD></TR>\r\n\
</Table>\r\n\
<P>&nbsp;&nbsp;&nbsp;&nbsp;<A Href=\"#\" OnClick=\"handleGetCert();return false;\"><LocID ID=locDownloadCert2>Download certificate</LocID></A>\r\n\
<Br>&nbsp;&nbsp;&nbsp;&nbsp;<A Href=\"#\" OnClick=\"handleGetChain();return false;\"><LocID ID=locDownloadCertChain2>Download certificate chain</LocID></A>\r\n\
<Form Name=UIForm></Form>\r\n",
        );
        b.push_str(&format!(
            "<Script Language=\"JavaScript\">\r\n\
\t//<!--\r\n\
\tfunction handleGetCert() {{\r\n\
\t\tlocation=\"certnew.cer?ReqID={id}&\"+getEncoding();\r\n\
\t}}\r\n\
\tfunction handleGetChain() {{\r\n\
\t\tlocation=\"certnew.p7b?ReqID={id}&\"+getEncoding();\r\n\
\t}}\r\n\
\tfunction getEncoding() {{\r\n\
\t\tif (true==document.getElementById(\"rbDerEncoding\").checked) {{\r\n\
\t\t\treturn \"Enc=bin\";\r\n\
\t\t}} else {{\r\n\
\t\t\treturn \"Enc=b64\";\r\n\
\t\t}}\r\n\
\t}}\r\n\
\t//-->\r\n\
</Script>\r\n"
        ));
    } else {
        b.push_str(&format!(
            "<P><Table Border=0 CellSpacing=0 CellPadding=0>\r\n\
<TR><TD>&nbsp;&nbsp;&nbsp;&nbsp;</TD><TD><LocID ID=locDownloadCert1>Download certificate: <A Href=\"certnew.cer?ReqID={id}&amp;Enc=bin\">DER encoded</A> or <A Href=\"certnew.cer?ReqID={id}&amp;Enc=b64\">Base 64 encoded</A></LocID></TD></TR>\r\n\
<TR><TD>&nbsp;&nbsp;&nbsp;&nbsp;</TD><TD><LocID ID=locDownloadCertChain1>Download certificate chain: <A Href=\"certnew.p7b?ReqID={id}&amp;Enc=bin\">DER encoded</A> or <A Href=\"certnew.p7b?ReqID={id}&amp;Enc=b64\">Base 64 encoded</A></LocID></TD></TR>\r\n\
</Table>\r\n\
<Span ID=spnNotTrusted Style=\"display:none\"><A Href=\"certnew.cer?ReqID=CACert&amp;Renewal={ca_renewal}&amp;Mode=inst&amp;Enc=b64\">Install this CA certificate</A></Span>\r\n"
        ));
    }
    page(&b)
}

/// The pending page after `newreq`, or the still-pending page after `chkpnd`.
/// No certnew link and no `location=` in any form.
pub fn pending(id: u32, still: bool) -> String {
    let mut b = title(marker::PENDING_TITLE);
    if still {
        b.push_str(&format!(
            "<P ID=locInfoStillPending> {} {}\r\n",
            marker::STILL_PENDING,
            marker::STILL_PENDING_WAIT
        ));
    } else {
        b.push_str(&format!(
            "<P ID=locInfoReqIDPending> {} {}\r\n<P ID=locReqID> {}{id}.\r\n",
            marker::PENDING_RECEIVED,
            marker::PENDING_WAIT,
            marker::REQUEST_ID
        ));
    }
    b.push_str(
        "<P ID=locInfoReturn> Please return to this web site in a day or two to retrieve your certificate.\r\n\
<P ID=locInfoNote><Font Size=-1><I>Note: You must return with this web browser within 10 days to retrieve your certificate</I></Font>\r\n",
    );
    b.push_str(&format!(
        "<Script Language=\"VBScript\">\r\n\t' nReqId = {id}\r\n</Script>\r\n"
    ));
    page(&b)
}

/// The denied page (also for a revoked certificate on `chkpnd`).
pub fn denied(id: u32, message: &str, revoked: bool) -> String {
    let mut b = title(marker::DENIED_TITLE);
    let text = if revoked {
        marker::REVOKED_TEXT
    } else {
        marker::DENIED_TEXT
    };
    b.push_str(&format!(
        "<P ID=locInfoReqDenied> {text}\r\n\
<P ID=locInfoContactAdmin> {}{id}. {}{}\".\r\n Contact your administrator for further information.\r\n",
        marker::REQUEST_ID,
        marker::DISPOSITION_MESSAGE,
        escape(message)
    ));
    page(&b)
}

/// Which intro an error page gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorContext {
    NewRequest,
    CheckPending,
    NoForm,
    /// certnew.cer / certnew.p7b / certcrl.crl: no intro.
    Fetch,
    /// A form with an unknown `Mode`.
    UnknownMode,
}

/// The values of an error page's `<DL>` (§3.6).
#[derive(Clone, Debug)]
pub struct ErrorInfo {
    pub context: ErrorContext,
    /// The raw `Mode` value (echoed, escaped).
    pub mode: String,
    /// CR_DISP_* of the request, if it has one.
    pub disposition: Option<u32>,
    pub disposition_message: Option<String>,
    pub result: HResult,
    pub last_status: Option<HResult>,
}

/// The `certrser`-style error page. Each value sits on the line after
/// `<DD>`, indented by exactly two TABs (MW and NOK regexes depend on it).
pub fn error(info: &ErrorInfo) -> String {
    let mut b = title(marker::ERROR_TITLE);
    let intro = match info.context {
        ErrorContext::NewRequest | ErrorContext::UnknownMode => Some(
            "Your request failed. An error occurred while the server was processing your request.",
        ),
        ErrorContext::CheckPending => Some(
            "An error occurred while the server was checking on your pending certificate request.",
        ),
        ErrorContext::NoForm => Some(marker::NO_FORM),
        ErrorContext::Fetch => None,
    };
    if let Some(i) = intro {
        b.push_str(&format!("<P ID=locErrorIntro> {i}\r\n"));
    }
    b.push_str("<P ID=locContactAdmin> Contact your administrator for further assistance.\r\n");
    let mode_label = match info.context {
        ErrorContext::NewRequest => "New Request",
        ErrorContext::CheckPending => "Check Pending",
        ErrorContext::NoForm => "(no form data)",
        ErrorContext::Fetch => "(certnew.cer/certnew.p7b/certcrl.crl certificate/crl fetch)",
        ErrorContext::UnknownMode => "(unknown)",
    };
    let disposition = match info.disposition {
        None => "(never set)".to_string(),
        Some(0) => "0 - Incomplete".to_string(),
        Some(1) => "1 - Error".to_string(),
        Some(d) => format!("{d:x} - (unknown)"),
    };
    let message = match &info.disposition_message {
        Some(m) if !m.is_empty() => escape(m),
        _ => "<LocID ID=locDispMsgNone>(none)</LocID>".to_string(),
    };
    let last = info
        .last_status
        .map_or("(never set)".to_string(), |s| escape(&s.status_text()));
    let cause = if info.result == HResult::PROPERTY_EMPTY
        && info.last_status == Some(HResult::PROPERTY_EMPTY)
    {
        "You have have attempted to check on a certificate that has not been requested. Please go back to the home page and make a new request."
    } else if info.last_status == Some(HResult::NO_CERT_TYPE) {
        "The request does not contain a certificate template. Submit it again with a template chosen."
    } else if info.context == ErrorContext::NoForm {
        "If you used a bookmark to reach this page, return to the home page and start again."
    } else {
        "No suggestions."
    };
    let rows = [
        (
            "Request Mode:",
            format!("{} - {mode_label}", escape(&info.mode)),
        ),
        ("Disposition:", disposition),
        (marker::LABEL_DISPOSITION_MESSAGE, message),
        ("Result:", escape(&info.result.status_text())),
        ("COM Error Info:", String::new()),
        (marker::LABEL_LAST_STATUS, last),
        ("Suggested Cause:", cause.to_string()),
    ];
    b.push_str("<P><DL>\r\n");
    for (label, value) in rows {
        b.push_str(&format!(
            "<DT><Font Size=-1><B>{label}</B></Font></DT><DD>\r\n\t\t{value}\r\n\t</DD>\r\n"
        ));
    }
    b.push_str("</DL>\r\n<!-- <Pre></Pre> -->\r\n");
    page(&b)
}

/// `certcarc.asp`: one `Option` line per CA certificate (index 0 = current),
/// `var nRenewals=K;`, and handlers building `certnew.*?ReqID=CACert&Renewal=`.
pub fn ca_certificates(ca_cn: &str, n_renewals: u16) -> String {
    let mut b = title("Download a CA Certificate, Certificate Chain, or CRL");
    b.push_str(
        "<P ID=locInfo> To trust certificates issued from this certification authority, install this CA certificate.\r\n\
<P ID=locInfo2> To download a CA certificate, certificate chain, or CRL, select the certificate and encoding method.\r\n\
<Form Name=UIForm>\r\n<P><B><LocID ID=locCACertLabel>CA certificate:</LocID></B><Br>\r\n\
<Select Name=lbCaInstance ID=lbCaInstance Size=2>\r\n",
    );
    // Newest first; each value is the certificate's Renewal index.
    for i in 0..=n_renewals {
        let label = if i == 0 { "Current" } else { "Previous" };
        let selected = if i == 0 { " Selected" } else { "" };
        b.push_str(&format!(
            "\t<Option Value=\"{}\"{selected}>{label} [{}]\r\n",
            n_renewals - i,
            escape(ca_cn)
        ));
    }
    b.push_str(
        "</Select>\r\n\
<P><B><LocID ID=locEncLabel>Encoding method:</LocID></B><Br>\r\n\
<Input Type=Radio Name=rbEncoding ID=rbDerEncoding Value=\"bin\"><Label For=rbDerEncoding>DER</Label>\r\n\
<Input Type=Radio Name=rbEncoding ID=rbB64Encoding Value=\"b64\" Checked><Label For=rbB64Encoding>Base 64</Label>\r\n\
</Form>\r\n\
<P><A Href=\"#\" OnClick=\"handleGetCert();return false;\"><LocID ID=locDownloadCACert>Download CA certificate</LocID></A>\r\n\
<Br><A Href=\"#\" OnClick=\"handleGetChain();return false;\"><LocID ID=locDownloadCAChain>Download CA certificate chain</LocID></A>\r\n\
<Br><A Href=\"#\" OnClick=\"handleGetBaseCrl();return false;\"><LocID ID=locDownloadCrl>Download latest base CRL</LocID></A>\r\n\
<Br><A Href=\"#\" OnClick=\"handleGetDeltaCrl();return false;\"><LocID ID=locDownloadDeltaCrl>Download latest delta CRL</LocID></A>\r\n",
    );
    b.push_str(&format!(
        "<Script Language=\"JavaScript\">\r\n\
\t//<!--\r\n\
\t{}{n_renewals};\r\n\
\tfunction getRenewal() {{\r\n\
\t\treturn nRenewals-document.getElementById(\"lbCaInstance\").selectedIndex;\r\n\
\t}}\r\n\
\tfunction getEncoding() {{\r\n\
\t\treturn document.getElementById(\"rbDerEncoding\").checked ? \"Enc=bin\" : \"Enc=b64\";\r\n\
\t}}\r\n\
\tfunction handleGetCert() {{\r\n\
\t\tlocation=\"certnew.cer?ReqID=CACert&Renewal=\"+getRenewal()+\"&\"+getEncoding();\r\n\
\t}}\r\n\
\tfunction handleGetChain() {{\r\n\
\t\tlocation=\"certnew.p7b?ReqID=CACert&Renewal=\"+getRenewal()+\"&\"+getEncoding();\r\n\
\t}}\r\n\
\tfunction handleGetBaseCrl() {{\r\n\
\t\tlocation=\"certcrl.crl?Type=base&Renewal=\"+getRenewal()+\"&\"+getEncoding();\r\n\
\t}}\r\n\
\tfunction handleGetDeltaCrl() {{\r\n\
\t\tlocation=\"certcrl.crl?Type=delta&Renewal=\"+getRenewal()+\"&\"+getEncoding();\r\n\
\t}}\r\n\
\t//-->\r\n\
</Script>\r\n",
        marker::N_RENEWALS
    ));
    page(&b)
}

/// The 14-field option value of a template (§2.7).
pub fn template_option_value(t: &Template) -> String {
    use crate::template::SubjectSource;
    let subject_flags: u32 = match t.subject {
        SubjectSource::Request => 0x1,
        SubjectSource::RequesterMachine => 0x0800_0000 | 0x0040_0000,
        SubjectSource::RequesterUser => 0x8000_0000 | 0x0200_0000 | 0x0100_0000,
    };
    let enroll_flags: u32 = if t.requires_approval { 0x2 } else { 0 };
    let pk_flags: u32 = if t.exportable_key { 0x10 } else { 0 };
    let v2 = if t.schema_version >= 2 {
        format!(
            "{};{};1;{}",
            t.template_oid(),
            t.major_version,
            t.minor_version
        )
    } else {
        ";;;".to_string()
    };
    format!(
        "E;{name};1;0;{enroll_flags};{pk_flags};{subject_flags};0;Microsoft RSA SChannel Cryptographic Provider?Microsoft Enhanced Cryptographic Provider v1.0;{v2};{display}",
        name = t.name,
        display = t.display_name,
    )
}

/// `certrqxt.asp`: the advanced request form. `templates` is `None` on a
/// stand-alone CA (no template list at all).
pub fn advanced_request(templates: Option<&[Template]>) -> String {
    let mut b = title("Submit a Certificate Request or Renewal Request");
    let on_submit = if templates.is_some() {
        " OnSubmit=\"return addTemplate();\""
    } else {
        ""
    };
    b.push_str(&format!(
        "<P ID=locInfo> To submit a saved request to the CA, paste a base-64-encoded CMC or PKCS #10 certificate request or PKCS #7 renewal request generated by an external source (such as a Web server) in the Saved Request box.\r\n\
<Form Name=SubmittedData ID=SubmittedData Action=\"certfnsh.asp\" Method=Post{on_submit}>\r\n"
    ));
    b.push_str(
        "<Input Type=Hidden Name=Mode Value=\"newreq\">\r\n\
<Input Type=Hidden Name=TargetStoreFlags Value=\"0\">\r\n\
<Input Type=Hidden Name=SaveCert Value=\"yes\">\r\n\
<Input Type=Hidden Name=ThumbPrint Value=\"\">\r\n\
<Input Type=Hidden Name=FriendlyType Value=\"Saved-Request Certificate\">\r\n\
<P><B><LocID ID=locSavedReqLabel>Saved Request:</LocID></B><Br>\r\n\
<TextArea Name=CertRequest ID=locTbRequest Rows=10 Cols=64 Wrap=Off></TextArea>\r\n",
    );
    if let Some(ts) = templates {
        b.push_str(
            "<P><B><LocID ID=locCertTemplateLabel>Certificate Template:</LocID></B><Br>\r\n\
<Select Name=lbCertTemplate ID=lbCertTemplateID>\r\n",
        );
        if ts.is_empty() {
            b.push_str(&format!(
                "<Option Value=\"X\">{}</Option>\r\n",
                marker::NO_TEMPLATES
            ));
        }
        for (i, t) in ts.iter().enumerate() {
            let selected = if i == 0 { " Selected" } else { "" };
            b.push_str(&format!(
                "<Option Value=\"{}\"{selected}>{}</Option>\r\n",
                escape(&template_option_value(t)),
                escape(&t.display_name)
            ));
        }
        b.push_str("</Select>\r\n");
    }
    b.push_str(
        "<P><B><LocID ID=locAttribLabel>Additional Attributes:</LocID></B><Br>\r\n\
<TextArea Name=CertAttrib ID=locTbAttrib Rows=2 Cols=30 Wrap=Off></TextArea>\r\n\
<P><Input Type=Submit ID=btnSubmit Value=\"Submit &gt;\">\r\n\
</Form>\r\n",
    );
    if templates.is_some() {
        // As certsrv's own script does: the chosen template (second field of
        // the option value) goes first into the attributes.
        b.push_str(
            "<Script Language=\"JavaScript\">\r\n\
\tfunction addTemplate() {\r\n\
\t\tvar name=document.getElementById(\"lbCertTemplateID\").value.split(\";\")[1];\r\n\
\t\tvar attrib=document.getElementById(\"locTbAttrib\");\r\n\
\t\tif (name && attrib.value.indexOf(\"CertificateTemplate:\")<0) attrib.value=\"CertificateTemplate:\"+name+\"\\r\\n\"+attrib.value;\r\n\
\t\treturn true;\r\n\
\t}\r\n\
</Script>\r\n",
        );
    }
    page(&b)
}

/// `certckpn.asp`: the pending requests remembered in the `Requests` cookie.
pub fn pending_list(entries: &[(u32, String)]) -> String {
    let mut b = title("View the Status of a Pending Certificate Request");
    if entries.is_empty() {
        b.push_str("<P ID=locNoPending> There are no pending certificate requests.\r\n");
    } else {
        b.push_str("<P ID=locSelectPending> Select the certificate request you want to view:\r\n");
        for (id, label) in entries {
            b.push_str(&format!(
                "<Br>&nbsp;&nbsp;&nbsp;&nbsp;<Form Action=\"certfnsh.asp\" Method=Post Style=\"display:inline\"><Input Type=Hidden Name=Mode Value=\"chkpnd\"><Input Type=Hidden Name=ReqID Value=\"{id}\"><Input Type=Submit ID=btnView{id} Value=\"{}\"></Form> \
<Form Action=\"{}\" Method=Post Style=\"display:inline\"><Input Type=Hidden Name=Action Value=\"rmpn\"><Input Type=Hidden Name=ReqID Value=\"{id}\"><Input Type=Submit ID=btnRemove{id} Value=\"Remove\"></Form>\r\n",
                escape(label),
                endpoint::REMOVE_PENDING
            ));
        }
    }
    page(&b)
}

/// `certrmpn.asp`: confirmation after removing or installing.
pub fn removed(id: Option<u32>) -> String {
    let mut b = title("Certificate Request Removed");
    match id {
        Some(id) => b.push_str(&format!(
            "<P ID=locRemoved> Request {id} was removed from the list of pending requests.\r\n"
        )),
        None => b.push_str("<P ID=locRemoved> No request was selected.\r\n"),
    }
    page(&b)
}

/// The IIS 401.2 page (§3.7).
pub fn unauthorized() -> String {
    format!(
        "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\r\n\
<html xmlns=\"http://www.w3.org/1999/xhtml\">\r\n<head>\r\n\
<meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\"/>\r\n\
<title>{u}</title>\r\n</head>\r\n<body>\r\n<div id=\"header\"><h1>Server Error</h1></div>\r\n\
<div id=\"content\">\r\n <div class=\"content-container\"><fieldset>\r\n\
  <h2>{u}</h2>\r\n\
  <h3>You do not have permission to view this directory or page using the credentials that you supplied.</h3>\r\n\
 </fieldset></div>\r\n</div>\r\n</body>\r\n</html>\r\n",
        u = marker::UNAUTHORIZED
    )
}

/// HTTP.sys's short body on the NTLM challenge leg.
pub const CHALLENGE_BODY: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"\"http://www.w3.org/TR/html4/strict.dtd\">\r\n<HTML><HEAD><TITLE>Not Authorized</TITLE>\r\n<META HTTP-EQUIV=\"Content-Type\" Content=\"text/html; charset=us-ascii\"></HEAD>\r\n<BODY><h2>Not Authorized</h2>\r\n<hr><p>HTTP Error 401. The requested resource requires user authentication.</p>\r\n</BODY></HTML>\r\n";

/// A plain IIS-style status page (404, 400, 413, 403).
pub fn status_page(code: u16, text: &str) -> String {
    format!(
        "<!DOCTYPE html>\r\n<html><head><title>{code} - {t}</title></head>\r\n<body><h2>{code} - {t}</h2></body></html>\r\n",
        t = escape(text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line after `function X() {` (BGS, NAE read it).
    fn line_after<'a>(page: &'a str, start: &str) -> &'a str {
        let i = page.find(start).unwrap() + start.len();
        page[i..]
            .trim_start_matches(['\r', '\n'])
            .lines()
            .next()
            .unwrap()
    }

    #[test]
    fn script_variant_puts_handle_get_cert_first() {
        let p = issued(42, true, 0, false);
        let first = &p[p.find("location=\"").unwrap()..];
        assert!(first.starts_with("location=\"certnew.cer?ReqID=42&\""));
        assert_eq!(
            line_after(&p, "function handleGetCert() {"),
            "\t\tlocation=\"certnew.cer?ReqID=42&\"+getEncoding();"
        );
        assert_eq!(
            line_after(&p, "function handleGetChain() {"),
            "\t\tlocation=\"certnew.p7b?ReqID=42&\"+getEncoding();"
        );
        assert!(p.contains(marker::ISSUED_TITLE) && p.contains(marker::ISSUED_TEXT));
    }

    #[test]
    fn link_variant_has_the_download_lines_and_no_scripts() {
        let p = issued(7, false, 2, false);
        let line = p.lines().find(|l| l.contains("locDownloadCert1")).unwrap();
        assert!(
            line.contains("certnew.cer?ReqID=7&amp;Enc=bin")
                && line.contains("certnew.cer?ReqID=7&amp;Enc=b64")
        );
        assert!(p.lines().any(|l| l.contains("locDownloadCertChain1")
            && l.contains("certnew.p7b?ReqID=7&amp;Enc=b64")));
        assert!(p.contains("ReqID=CACert&amp;Renewal=2&amp;Mode=inst"));
        assert!(!p.contains("location="));
    }

    #[test]
    fn pending_and_denied_pages_carry_no_certificate_link() {
        for p in [
            pending(9, false),
            pending(9, true),
            denied(9, "Denied by Policy Module", false),
        ] {
            assert!(!p.contains("certnew.cer?ReqID=") && !p.contains("location=\"certnew"));
        }
        let p = pending(9, false);
        assert!(p.contains("Your Request Id is 9.") && p.contains("\t' nReqId = 9\r\n"));
        let d = denied(9, "Denied by \"x\" <y>", false);
        assert!(d.contains("The disposition message is \"Denied by &quot;x&quot; &lt;y&gt;\".\r\n"));
    }

    #[test]
    fn error_page_values_are_two_tabs_into_the_dd() {
        let p = error(&ErrorInfo {
            context: ErrorContext::Fetch,
            mode: String::new(),
            disposition: Some(5),
            disposition_message: Some("Taken Under Submission".into()),
            result: HResult::S_OK,
            last_status: Some(HResult::TEMPLATE_DENIED),
        });
        let value = |label: &str| {
            let i = p.find(label).unwrap() + label.len();
            let rest = &p[i..];
            let tabs = rest.find("\t\t").unwrap();
            assert!(!rest[..tabs].contains('\t'));
            rest[tabs + 2..]
                .split(['\r', '\n'])
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(value("Disposition message:"), "Taken Under Submission");
        assert!(value("LastStatus:").starts_with("The permissions on the certificate template"));
        assert!(
            value("LastStatus:").ends_with("0x80094012 (-2146877422 CERTSRV_E_TEMPLATE_DENIED)")
        );
        assert_eq!(value("Disposition:"), "5 - (unknown)");
    }

    #[test]
    fn ca_page_has_one_option_line_per_certificate() {
        let p = ca_certificates("contoso-TEST-CA", 2);
        assert_eq!(p.lines().filter(|l| l.contains("Option")).count(), 3);
        assert!(p.contains("var nRenewals=2;"));
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
    }
}

/// The client's page reader (`adcs_proto::page`) reads what these renderers write.
#[cfg(test)]
mod parsed_back {
    use adcs_proto::page::*;
    use adcs_proto::protocol::HResult;

    #[test]
    fn pages_become_typed_outcomes() {
        assert_eq!(
            parse_submit_page(&super::issued(12, true, 0, false)),
            PageOutcome::Issued { id: 12 }
        );
        assert_eq!(
            parse_submit_page(&super::issued(13, false, 0, true)),
            PageOutcome::Issued { id: 13 }
        );
        assert_eq!(
            parse_submit_page(&super::pending(14, false)),
            PageOutcome::Pending { id: Some(14) }
        );
        let long = "Denied by Policy Module  0x80094800, The request was for a certificate template that is not supported by the Active Directory Certificate Services policy: X.";
        assert_eq!(
            parse_submit_page(&super::denied(15, long, false)),
            PageOutcome::Denied {
                id: Some(15),
                message: long.into(),
                hresult: Some(HResult::UNSUPPORTED_CERT_TYPE)
            }
        );
        assert_eq!(
            parse_submit_page(&super::denied(16, "Denied by \"CONTOSO\\x\"", false)),
            PageOutcome::Denied {
                id: Some(16),
                message: "Denied by \"CONTOSO\\x\"".into(),
                hresult: None
            }
        );
    }

    #[test]
    fn error_pages_give_their_codes() {
        let page = super::error(&super::ErrorInfo {
            context: super::ErrorContext::Fetch,
            mode: String::new(),
            disposition: None,
            disposition_message: None,
            result: HResult::PROPERTY_EMPTY,
            last_status: Some(HResult::PROPERTY_EMPTY),
        });
        assert_eq!(
            parse_error_page(&page),
            ErrorPage {
                disposition_message: None,
                result: Some(HResult::PROPERTY_EMPTY),
                last_status: Some(HResult::PROPERTY_EMPTY)
            }
        );
        assert!(matches!(parse_submit_page(&page), PageOutcome::Error(_)));
        assert_eq!(hresult_in("ok 0x0 (WIN32: 0)"), Some(HResult::S_OK));
        assert_eq!(hresult_in("no code"), None);
        assert_eq!(parse_error_page("garbage"), ErrorPage::default());
    }
}

/// An NDES page (`mscep_admin/` and `mscep.dll` without an operation):
/// NDES's own frame around `body`.
pub fn ndes_page(body: &str) -> String {
    format!(
        "<HTML><Head><Meta HTTP-Equiv=\"Content-Type\" Content=\"text/html; charset=UTF-8\"><Title>Network Device Enrollment Service</Title></Head><Body BgColor=#FFFFFF><Font ID=locPageFont Face=\"Arial\"><Table Border=0 CellSpacing=0 CellPadding=4 Width=100% BgColor=#008080><TR><TD><Font ID=locPageTitleFont Face=\"Arial\" Size=-1 Color=#FFFFFF><LocID ID=locMSCertSrv>Network Device Enrollment Service</LocID></Font></TD></TR></Table><P ID=locPageTitle> Network Device Enrollment Service allows you to obtain certificates for routers or other network devices using the Simple Certificate Enrollment Protocol (SCEP). </P>{body} <P ID=locPageDesc> For more information see  <A HREF=http://go.microsoft.com/fwlink/?LinkId=67852>Using Network Device Enrollment Service </A>. </P></Font></Body></HTML>"
    )
}
