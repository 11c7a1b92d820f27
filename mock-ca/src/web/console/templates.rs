//! The Certificate Templates console: the list with publish and unpublish,
//! and the properties sheet used to edit or duplicate a template.

use super::*;

pub(super) fn known_eku_name(o: &str) -> Option<&'static str> {
    oid::EKU_NAMES
        .iter()
        .find(|(k, _)| *k == o)
        .map(|(_, n)| *n)
}

/// Certificate Templates: every template the CA knows, with publish and
/// unpublish, Properties and Duplicate.
pub(super) fn templates(shared: &Shared, who: &Identity) -> String {
    let mut b = String::from(
        "<table id=templates><tr><th>Template Display Name</th><th>Template Name</th><th>Schema Version</th><th>Version</th>\
<th>Intended Purposes</th><th>Validity</th><th>Minimum Key Size</th><th>Issuance Requirements</th><th>Enroll</th><th>Issued by this CA</th><th>Actions</th></tr>\n",
    );
    for t in shared.ca.templates() {
        let purposes = t
            .ekus
            .iter()
            .map(|e| known_eku_name(e).map_or_else(|| escape(e), str::to_string))
            .collect::<Vec<_>>()
            .join(", ");
        let name_q = form_urlencoded::byte_serialize(t.name.as_bytes()).collect::<String>();
        let name = escape(&t.name);
        let (verb, label) = if t.published {
            ("no", "Unpublish")
        } else {
            ("yes", "Publish")
        };
        b.push_str(&format!(
            "<tr data-template=\"{name}\"><td>{}</td><td>{name}</td><td>{}</td><td>{}.{}</td><td>{purposes}</td><td>{} days</td><td>{}</td><td>{}</td><td>{}</td><td class=published>{}</td>\
<td>{}<input type=hidden name=name value=\"{name}\"><button name=publish value={verb} class=publish>{label}</button></form> \
<a class=properties href=\"{base}templates/properties?name={name_q}\">Properties</a> <a class=duplicate href=\"{base}templates/duplicate?name={name_q}\">Duplicate Template</a></td></tr>\n",
            escape(&t.display_name),
            t.schema_version,
            t.major_version,
            t.minor_version,
            t.validity_days,
            t.min_key_size,
            if t.requires_approval { "CA certificate manager approval" } else { "None" },
            escape(&t.enroll.join("; ")),
            if t.published { "Yes" } else { "No" },
            form_start(shared, who, "templates/publish", " class=inline"),
            base = base(),
        ));
    }
    b.push_str("</table>\n");
    b
}

pub(super) fn publish(shared: &Shared, who: &Identity, form: &Params) -> Reply {
    let name = form.get("name").unwrap_or("").trim();
    let on = form.get("publish") == Some("yes");
    match shared.ca.publish_template(name, on) {
        Ok(t) => redirect(
            "templates",
            &format!(
                "{} {}",
                t.display_name,
                if on {
                    "is issued by this CA"
                } else {
                    "is no longer issued by this CA"
                }
            ),
        ),
        Err(e) => refused(shared, who, "templates", refusal_status(&e), e.to_string()),
    }
}

/// A template's properties as the form shows them: text, so that a
/// refused form comes back with exactly what was typed.
pub(super) struct Props {
    name: String,
    display_name: String,
    compatibility: String,
    validity_days: String,
    purpose: String,
    key_usage_critical: bool,
    exportable_key: bool,
    min_key_size: String,
    ekus: Vec<String>,
    other_ekus: String,
    subject: String,
    requires_approval: bool,
    enroll: String,
}

pub(super) const COMPATIBILITY: [(&str, &str); 4] = [
    ("1", "Windows 2000 (version 1 template)"),
    ("2", "Windows Server 2003"),
    ("3", "Windows Server 2008"),
    ("4", "Windows Server 2012"),
];

pub(super) const PURPOSES: [(&str, &str, u16); 3] = [
    ("both", "Signature and encryption", 0xa0),
    ("signature", "Signature", 0x80),
    ("encryption", "Encryption", 0x20),
];

pub(super) const SUBJECTS: [(&str, &str, SubjectSource); 3] = [
    ("request", "Supply in the request", SubjectSource::Request),
    (
        "requester_machine",
        "Build from this Active Directory information (computer)",
        SubjectSource::RequesterMachine,
    ),
    (
        "requester_user",
        "Build from this Active Directory information (user)",
        SubjectSource::RequesterUser,
    ),
];

impl Props {
    pub(super) fn from_template(t: &Template) -> Props {
        let (known, other): (Vec<_>, Vec<_>) = t
            .ekus
            .iter()
            .cloned()
            .partition(|e| known_eku_name(e).is_some());
        Props {
            name: t.name.clone(),
            display_name: t.display_name.clone(),
            compatibility: t.schema_version.to_string(),
            validity_days: t.validity_days.to_string(),
            // A key usage the console has no name for is kept as it is.
            purpose: PURPOSES
                .iter()
                .find(|p| p.2 == t.key_usage)
                .map_or_else(|| format!("0x{:02x}", t.key_usage), |p| p.0.to_string()),
            key_usage_critical: t.key_usage_critical,
            exportable_key: t.exportable_key,
            min_key_size: t.min_key_size.to_string(),
            ekus: known,
            other_ekus: other.join("\n"),
            subject: SUBJECTS
                .iter()
                .find(|s| s.2 == t.subject)
                .map_or("request", |s| s.0)
                .to_string(),
            requires_approval: t.requires_approval,
            enroll: t.enroll.join("\n"),
        }
    }

    fn from_form(form: &Params) -> Props {
        let text = |k: &str| form.get(k).unwrap_or("").to_string();
        let on = |k: &str| form.get(k).is_some();
        Props {
            name: text("name"),
            display_name: text("display_name"),
            compatibility: text("compatibility"),
            validity_days: text("validity_days"),
            purpose: text("purpose"),
            key_usage_critical: on("key_usage_critical"),
            exportable_key: on("exportable_key"),
            min_key_size: text("min_key_size"),
            ekus: form
                .pairs()
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("eku"))
                .map(|(_, v)| v.clone())
                .collect(),
            other_ekus: text("other_ekus"),
            subject: text("subject"),
            requires_approval: on("requires_approval"),
            enroll: text("enroll"),
        }
    }

    /// `base` with these properties, or what is wrong with them.
    pub(super) fn apply(&self, base: &Template) -> Result<Template, String> {
        let number = |label: &str, v: &str| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("{label}: `{v}` is not a whole number"))
        };
        let schema_version = match self.compatibility.trim() {
            "" => base.schema_version,
            v => match v.parse::<u8>() {
                Ok(n @ 1..=4) => n,
                _ => return Err(format!("Compatibility: `{v}` is not a template version")),
            },
        };
        let validity_days = number("Validity period (days)", &self.validity_days)?;
        if validity_days == 0 {
            return Err("Validity period (days): at least 1".into());
        }
        let key_usage = PURPOSES
            .iter()
            .find(|p| p.0 == self.purpose)
            .map(|p| p.2)
            .or_else(|| {
                let hex = self.purpose.strip_prefix("0x")?;
                u16::from_str_radix(hex, 16).ok()
            })
            .ok_or_else(|| format!("Purpose: `{}` is not one of the choices", self.purpose))?;
        let subject = SUBJECTS
            .iter()
            .find(|s| s.0 == self.subject)
            .map(|s| s.2)
            .ok_or_else(|| format!("Subject Name: `{}` is not one of the choices", self.subject))?;
        let mut ekus: Vec<String> = self.ekus.iter().map(|e| e.trim().to_string()).collect();
        for e in self
            .other_ekus
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            der::asn1::ObjectIdentifier::new(e)
                .map_err(|_| format!("Application Policies: `{e}` is not an OID"))?;
            if !ekus.iter().any(|k| k == e) {
                ekus.push(e.to_string());
            }
        }
        Ok(Template {
            display_name: self.display_name.trim().to_string(),
            schema_version,
            validity_days,
            key_usage,
            key_usage_critical: self.key_usage_critical,
            exportable_key: self.exportable_key,
            min_key_size: number("Minimum key size", &self.min_key_size)?,
            ekus,
            subject,
            san_from_request: if subject == base.subject {
                base.san_from_request
            } else {
                subject == SubjectSource::Request
            },
            requires_approval: self.requires_approval,
            enroll: self
                .enroll
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            ..base.clone()
        })
    }
}

/// The properties sheet, for editing a template or for its duplicate.
pub(super) fn properties_form(
    shared: &Shared,
    who: &Identity,
    op: &str,
    source: &str,
    p: &Props,
) -> String {
    let checked = |on: bool| if on { " checked" } else { "" };
    let select = |name: &str, current: &str, choices: &[(&str, &str)]| {
        let mut s = format!("<select name={name} id={name}>");
        for (value, label) in choices {
            let sel = if *value == current { " selected" } else { "" };
            s.push_str(&format!(
                "<option value=\"{}\"{sel}>{label}</option>",
                escape(value)
            ));
        }
        s.push_str("</select>");
        s
    };
    let heading = if op == "duplicate" {
        format!(
            "Properties of New Template (a duplicate of {})",
            escape(source)
        )
    } else {
        format!("{} Properties", escape(&p.display_name))
    };
    let mut ekus = String::new();
    for (o, label) in oid::EKU_NAMES {
        ekus.push_str(&format!(
            "<label><input type=checkbox name=eku value=\"{o}\"{}> {label}</label><br>",
            checked(p.ekus.iter().any(|e| e == o))
        ));
    }
    let custom = format!("Key usage {}", escape(&p.purpose));
    let mut purposes: Vec<(&str, &str)> = PURPOSES.iter().map(|p| (p.0, p.1)).collect();
    if !purposes.iter().any(|(v, _)| *v == p.purpose) {
        purposes.push((&p.purpose, &custom));
    }
    let subjects: Vec<(&str, &str)> = SUBJECTS.iter().map(|s| (s.0, s.1)).collect();
    let name_attr = if op == "edit" {
        " readonly"
    } else {
        " required"
    };
    format!(
        "<h2 id=properties-heading>{heading}</h2>\n{form}<input type=hidden name=op value={op}><input type=hidden name=source value=\"{source}\">\n\
<fieldset><legend>General</legend>\
<label>Template display name: <input name=display_name id=display_name size=40 required value=\"{display}\"></label><br>\
<label>Template name: <input name=name id=name size=40{name_attr} value=\"{name}\"></label><br>\
<label>Validity period (days): <input name=validity_days id=validity_days size=6 value=\"{validity}\"></label></fieldset>\n\
<fieldset><legend>Compatibility</legend><label>Certificate recipient / template version: {compat}</label></fieldset>\n\
<fieldset><legend>Request Handling</legend><label>Purpose: {purpose}</label><br>\
<label><input type=checkbox name=exportable_key id=exportable_key{exportable}> Allow private key to be exported</label></fieldset>\n\
<fieldset><legend>Cryptography</legend><label>Minimum key size: <input name=min_key_size id=min_key_size size=6 value=\"{min_key}\"></label></fieldset>\n\
<fieldset><legend>Extensions</legend><b>Application Policies</b><br>{ekus}\
<label>Other OIDs (one per line): <br><textarea name=other_ekus id=other_ekus rows=2 cols=50>{other}</textarea></label><br>\
<b>Key Usage</b><br><label><input type=checkbox name=key_usage_critical id=key_usage_critical{critical}> Make this extension critical</label></fieldset>\n\
<fieldset><legend>Subject Name</legend>{subject}</fieldset>\n\
<fieldset><legend>Issuance Requirements</legend><label><input type=checkbox name=requires_approval id=requires_approval{approval}> CA certificate manager approval</label></fieldset>\n\
<fieldset><legend>Security</legend><label>Allowed to enroll (users or groups, one per line):<br><textarea name=enroll id=enroll rows=4 cols=50>{enroll}</textarea></label></fieldset>\n\
<p><button id=save-template>OK</button> <a href=\"{base}templates\">Cancel</a></p></form>\n",
        form = form_start(shared, who, "templates/save", ""),
        source = escape(source),
        display = escape(&p.display_name),
        name = escape(&p.name),
        validity = escape(&p.validity_days),
        compat = select("compatibility", &p.compatibility, &COMPATIBILITY),
        purpose = select("purpose", &p.purpose, &purposes),
        exportable = checked(p.exportable_key),
        min_key = escape(&p.min_key_size),
        other = escape(&p.other_ekus),
        critical = checked(p.key_usage_critical),
        subject = select("subject", &p.subject, &subjects),
        approval = checked(p.requires_approval),
        enroll = escape(&p.enroll),
        base = base(),
    )
}

pub(super) fn save_template(shared: &Shared, who: &Identity, form: &Params) -> Reply {
    let op = form.get("op").unwrap_or("");
    let source = form.get("source").unwrap_or("").trim();
    let props = Props::from_form(form);
    let again = |status: u16, why: String| {
        let body = properties_form(shared, who, op, source, &props);
        page(
            shared,
            who,
            "templates",
            Some(Banner::Refused(why)),
            &body,
            status,
        )
    };
    let Some(base_template) = shared.ca.template(source) else {
        return again(404, format!("no template named `{source}`"));
    };
    let result = match op {
        "edit" => props.apply(&base_template).and_then(|mut t| {
            t.minor_version += 1;
            shared
                .ca
                .put_template(t.clone())
                .map(|_| t)
                .map_err(|e| e.to_string())
        }),
        "duplicate" => {
            if props.name.trim().is_empty() {
                return again(400, "Template name: a duplicate needs a name".into());
            }
            props
                .apply(&base_template.duplicate(&props.name, &props.display_name))
                .and_then(|t| {
                    shared
                        .ca
                        .add_template(t.clone())
                        .map(|_| t)
                        .map_err(|e| e.to_string())
                })
        }
        other => Err(format!("unknown template operation `{other}`")),
    };
    match result {
        Ok(t) => redirect(
            "templates",
            &format!(
                "{} ({}) was saved at version {}.{}{}",
                t.display_name,
                t.name,
                t.major_version,
                t.minor_version,
                if t.published {
                    ""
                } else {
                    "; publish it to issue it"
                }
            ),
        ),
        Err(why) => again(400, why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_round_trip_and_refuse_bad_values() {
        let t = crate::template::default_templates()
            .into_iter()
            .find(|t| t.name == "OperationsManager")
            .unwrap();
        let same = Props::from_template(&t).apply(&t).unwrap();
        assert_eq!(same, t);
        let mut p = Props::from_template(&t);
        p.min_key_size = "big".into();
        assert!(p.apply(&t).unwrap_err().contains("Minimum key size"));
        let mut p = Props::from_template(&t);
        p.other_ekus = "1.2.3.4\nnot-an-oid".into();
        assert!(p.apply(&t).unwrap_err().contains("not-an-oid"));
        let mut p = Props::from_template(&t);
        p.purpose = "signature".into();
        p.exportable_key = false;
        p.other_ekus = "1.3.6.1.4.1.311.10.3.12".into();
        let changed = p.apply(&t).unwrap();
        assert_eq!(changed.key_usage, 0x80);
        assert!(!changed.exportable_key);
        assert!(changed.ekus.iter().any(|e| e == "1.3.6.1.4.1.311.10.3.12"));
    }
}
