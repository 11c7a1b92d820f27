//! certreq INF files (certreq-scom.md §1): the setup-INF grammar, then the
//! request they describe. Lenient where certreq is (case-insensitive names,
//! inline `;` comments, unterminated quotes, `_continue_`, `%Strings%`,
//! duplicate sections, UTF-16), strict with a message naming file, line and
//! key where certreq refuses. What is accepted but suspicious (typographic
//! quotes, unknown keys) becomes a warning that says what was done.
//!
//! `grammar` reads the file into sections and entries; `spec` (with
//! `extensions` and `values`) says what those entries ask of `certreq -new`.

mod extensions;
mod grammar;
mod spec;
mod values;

pub use grammar::{Entry, Inf, InfError, InfWarning, Section};
pub use spec::{BasicConstraints, HashChoice, KeyChoice, RawExtension, RequestKind, RequestSpec};
