//! teardown-conformance: reading captures and replaying them through the model.
