//! The certreq-style client toolkit (INF → key + request → submit → retrieve
//! → accept → SCOM import). It speaks only the documented certsrv interface;
//! protocol facts come from `adcs_proto::protocol`, their one home.

pub mod certsrv;
pub mod control;
pub mod flow;
pub mod http;
pub mod icpr;
pub mod inf;
pub mod keys;
pub mod ldap;
pub mod negotiate;
pub mod registry;
pub mod request;
pub mod scep;
pub mod scom;
pub mod store;

pub use adcs_proto::protocol;
