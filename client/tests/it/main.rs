//! The client toolkit: INF and request conformance, request properties, and
//! the web enrollment client against the mock CA. One test binary, a module
//! per feature.

mod directory;
mod reference_inf;
mod request_props;
mod web_enrollment;
