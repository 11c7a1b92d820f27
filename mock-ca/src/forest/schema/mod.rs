//! The directory's schema: what each attribute is (OID, syntax,
//! single-valuedness) and each class, looked up by name without regard to
//! case, and published as AD publishes it in `CN=Aggregate`. Matching in
//! filters follows each attribute's syntax.

mod table;

use table::{ATTRIBUTES, CLASSES};

/// The LDAP syntaxes AD publishes.
pub mod syntax {
    pub const UNICODE: &str = "1.3.6.1.4.1.1466.115.121.1.15";
    pub const INTEGER: &str = "1.3.6.1.4.1.1466.115.121.1.27";
    pub const TIME: &str = "1.3.6.1.4.1.1466.115.121.1.24";
    pub const OCTETS: &str = "1.3.6.1.4.1.1466.115.121.1.40";
    pub const DN: &str = "1.3.6.1.4.1.1466.115.121.1.12";
    pub const BOOLEAN: &str = "1.3.6.1.4.1.1466.115.121.1.7";
    pub const LARGE_INTEGER: &str = "1.2.840.113556.1.4.906";
    pub const SECURITY_DESCRIPTOR: &str = "1.2.840.113556.1.4.907";
    pub const OID: &str = "1.3.6.1.4.1.1466.115.121.1.38";
    pub const DN_BINARY: &str = "1.2.840.113556.1.4.903";
}

/// One attribute type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeType {
    /// The lDAPDisplayName, as the directory spells it in answers.
    pub name: &'static str,
    pub oid: &'static str,
    pub syntax: &'static str,
    pub single: bool,
    /// systemOnly (published as NO-USER-MODIFICATION).
    pub system: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassKind {
    Structural,
    Abstract,
    Auxiliary,
}

/// One object class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectClass {
    pub name: &'static str,
    pub oid: &'static str,
    /// The superior class; empty for `top`.
    pub sup: &'static str,
    pub kind: ClassKind,
    /// The CN of its defaultObjectCategory under CN=Schema; empty when
    /// the class cannot be instantiated.
    pub category: &'static str,
    pub must: &'static [&'static str],
    pub may: &'static [&'static str],
}

/// How values of an attribute compare in filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matching {
    /// Case-insensitive text (names, OIDs, times as written).
    Text,
    /// Distinguished names: case- and space-insensitive.
    Dn,
    Integer,
    /// Bytes as they are (SIDs, GUIDs, certificates).
    Octets,
}

impl AttributeType {
    pub fn matching(&self) -> Matching {
        match self.syntax {
            syntax::DN => Matching::Dn,
            syntax::INTEGER | syntax::LARGE_INTEGER => Matching::Integer,
            syntax::OCTETS | syntax::SECURITY_DESCRIPTOR | syntax::DN_BINARY => Matching::Octets,
            _ => Matching::Text,
        }
    }

    /// The attributeTypes value, as AD writes it (syntax OID quoted).
    pub fn definition(&self) -> String {
        let mut s = format!(
            "( {} NAME '{}' SYNTAX '{}'",
            self.oid, self.name, self.syntax
        );
        if self.single {
            s.push_str(" SINGLE-VALUE");
        }
        if self.system {
            s.push_str(" NO-USER-MODIFICATION");
        }
        s.push_str(" )");
        s
    }
}

impl ObjectClass {
    /// The objectClasses value, as AD writes it.
    pub fn definition(&self) -> String {
        let mut s = format!("( {} NAME '{}'", self.oid, self.name);
        if !self.sup.is_empty() {
            s.push_str(&format!(" SUP {}", self.sup));
        }
        s.push_str(match self.kind {
            ClassKind::Structural => " STRUCTURAL",
            ClassKind::Abstract => " ABSTRACT",
            ClassKind::Auxiliary => " AUXILIARY",
        });
        for (key, list) in [("MUST", self.must), ("MAY", self.may)] {
            match list {
                [] => {}
                [one] => s.push_str(&format!(" {key} {one}")),
                many => s.push_str(&format!(" {key} ({} )", many.join(" $ "))),
            }
        }
        s.push_str(" )");
        s
    }

    /// The objectClass values of an instance: `top` down to this class.
    pub fn chain(&self) -> Vec<&'static str> {
        let mut out = vec![self.name];
        let mut at = *self;
        while let Some(up) = class(at.sup) {
            out.push(up.name);
            at = up;
        }
        out.reverse();
        out
    }
}

/// The attribute with this name (any case), or OID.
pub fn attribute(name: &str) -> Option<&'static AttributeType> {
    ATTRIBUTES
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name) || a.oid == name)
}

/// The class with this name (any case).
pub fn class(name: &str) -> Option<ObjectClass> {
    CLASSES
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
        .copied()
}

/// Every attribute type and class, for the subschema entry.
pub fn definitions() -> (Vec<String>, Vec<String>) {
    (
        ATTRIBUTES.iter().map(AttributeType::definition).collect(),
        CLASSES.iter().map(ObjectClass::definition).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_in_any_case_with_ads_syntax() {
        let sid = attribute("OBJECTSID").unwrap();
        assert_eq!(
            (sid.oid, sid.syntax, sid.single),
            ("1.2.840.113556.1.4.146", syntax::OCTETS, true)
        );
        assert_eq!(attribute("objectGUID").unwrap().oid, "1.2.840.113556.1.4.2");
        assert_eq!(attribute("member").unwrap().matching(), Matching::Dn);
        assert!(!attribute("cACertificate").unwrap().single);
        assert_eq!(
            attribute("nTSecurityDescriptor").unwrap().definition(),
            "( 1.2.840.113556.1.2.281 NAME 'nTSecurityDescriptor' SYNTAX '1.2.840.113556.1.4.907' SINGLE-VALUE )"
        );
        assert!(attribute("noSuchThing").is_none());
    }

    #[test]
    fn classes_chain_to_top_and_define_only_known_attributes() {
        assert_eq!(
            class("computer").unwrap().chain(),
            ["top", "person", "organizationalPerson", "user", "computer"]
        );
        for c in CLASSES {
            for a in c.must.iter().chain(c.may) {
                assert!(attribute(a).is_some(), "{} names {a}", c.name);
            }
            assert!(c.sup.is_empty() || class(c.sup).is_some(), "{}", c.name);
        }
        let t = class("pKICertificateTemplate").unwrap().definition();
        assert!(
            t.starts_with(
                "( 1.2.840.113556.1.5.177 NAME 'pKICertificateTemplate' SUP top STRUCTURAL MAY ("
            ),
            "{t}"
        );
        let (a, c) = definitions();
        assert!(a.len() > 100 && c.len() > 30);
    }
}
