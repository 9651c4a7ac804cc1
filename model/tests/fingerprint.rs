//! `SystemState`'s hand-written `Hash` feeds the hasher the very byte stream
//! `derive(Hash)` would, in one slice: what decides which states are equal for the
//! checker is unchanged.

use std::hash::{DefaultHasher, Hash, Hasher};

use stateright::Model;
use teardown_model::builtins::builtin;
use teardown_model::system::{App, Endpoint, InFlight, SystemState, TeardownModel, Witness};

/// What `#[derive(Hash)]` on `SystemState` hashed: every field, in declaration order.
#[derive(Hash)]
struct Derived {
    ends: [Endpoint; 2],
    apps: [App; 2],
    network: Vec<InFlight>,
    losses_left: u8,
    dups_left: u8,
    delays_left: u8,
    flags: u8,
    witness: Option<Witness>,
    ack_exchange: u8,
}

/// Records the bytes a value feeds its hasher, whatever the calls.
#[derive(Default)]
struct Recorder(Vec<u8>);

impl Hasher for Recorder {
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
    fn finish(&self) -> u64 {
        0
    }
}

fn stream_of(v: &impl Hash) -> Vec<u8> {
    let mut r = Recorder::default();
    v.hash(&mut r);
    r.0
}

fn hash_of(v: &impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

#[test]
fn the_hand_written_hash_is_the_derived_one() {
    let b = builtin("linux").unwrap();
    let m = TeardownModel::new(b.stack, b.bounds).unwrap();
    // A few hundred states of every shape along a breadth-first walk.
    let mut frontier: Vec<SystemState> = m.init_states();
    let mut seen = 0;
    while let Some(s) = frontier.pop() {
        let derived = Derived {
            ends: s.ends,
            apps: s.apps,
            network: s.network.clone(),
            losses_left: s.losses_left,
            dups_left: s.dups_left,
            delays_left: s.delays_left,
            flags: s.flags,
            witness: s.witness,
            ack_exchange: s.ack_exchange,
        };
        assert_eq!(stream_of(&s), stream_of(&derived), "{s:?}");
        // A streaming hasher (SipHash) cannot tell the one slice from the pieces.
        assert_eq!(hash_of(&s), hash_of(&derived), "{s:?}");
        seen += 1;
        if seen > 500 {
            break;
        }
        let mut actions = Vec::new();
        m.actions(&s, &mut actions);
        for a in actions {
            if let Some(next) = m.next_state(&s, a) {
                frontier.insert(0, next);
            }
        }
    }
    assert!(seen > 500);
}
