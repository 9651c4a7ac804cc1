//! teardown-conformance: reading captures and replaying them through the model.
#![warn(missing_docs)]

pub mod capture;
pub mod connections;
pub mod decode;
pub mod ingest;
pub mod observation;
pub mod report;
