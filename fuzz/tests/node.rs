//! Runs the whole-node fuzz target over its checked-in corpus.

use lightning_fuzz::{node, run_corpus};

/// The hand-made seeds, one finding, and the 365 inputs of the 60-minute
/// libFuzzer run that cover every edge it reached (see README, "Fuzzing").
#[test]
fn node_full_stack_corpus() {
    assert!(run_corpus("node_full_stack", node::node_full_stack) >= 370);
}

/// Edge inputs that need no corpus file.
#[test]
fn node_full_stack_edge_inputs() {
    for data in [&[][..], &[0], &[1, 0, 0xff, 0xff], &[0xff; 64], &[18]] {
        node::node_full_stack(data);
    }
}

/// The hand-made seeds reach a funded channel and a payment in each
/// direction, so the fuzzer starts deep in the node.
#[test]
fn node_full_stack_seeds_reach_payments() {
    let seed = |name: &str| {
        let path = lightning_fuzz::corpus_dir("node_full_stack").join(name);
        let r =
            node::run(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
        println!("{name}: {r:?}");
        r
    };
    let r = seed("seed-open-pay-close");
    assert!(r.usable_channels >= 1, "{r:?}");
    assert!(r.payments_sent >= 1 && r.invoices_paid >= 1, "{r:?}");
    let r = seed("seed-honest-opens-pays");
    assert!(r.usable_channels >= 1 && r.invoices_paid >= 1, "{r:?}");
    let r = seed("seed-hostile-open-flood");
    assert!(r.hostile_connected >= 2, "{r:?}");
    assert!(r.usable_channels >= 1 && r.payments_sent >= 1, "{r:?}");
}
