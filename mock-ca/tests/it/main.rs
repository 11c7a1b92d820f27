//! The CA engine and its front ends, tested through their public API and
//! over HTTP with the client's session: one test binary, a module per
//! feature, so a cold build links it once.

mod certsrv;
mod conformance;
mod console;
mod dns;
mod engine;
mod iis;
mod kdc;
mod kerberos;
mod lab;
mod ldap;
mod limits;
mod ndes;
mod persistence;
mod security;
mod sid;
mod support;
mod web_pages;
