//! teardown-conformance: reading captures and replaying them through the model, and the
//! reports of the `teardown` command line.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod artifacts;
pub mod capture;
pub mod charts;
pub mod check_report;
pub mod connections;
pub mod decode;
pub mod envelope_report;
pub mod graph_report;
pub mod ingest;
pub mod observation;
pub mod oracle;
pub mod replay;
pub mod replay_report;
pub mod report;
pub mod stacks;
pub mod timewait;
pub mod writer;
