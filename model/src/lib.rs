//! teardown-model: the one implementation of the TCP teardown rules.
