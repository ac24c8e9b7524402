//! The demo's walk-through, run by CI.

#[test]
fn demo_runs_and_balances_add_up() {
    let summary = examples::demo::run(true).expect("demo");
    // 100 payments of 1,000 sat to Bob, 5,000 sat back.
    assert_eq!(summary.bob_sat, 95_000);
    // Alice: the rest of the 1,000,000 sat channel, less the fee she pays
    // as funder.
    assert_eq!(
        summary.alice_sat,
        summary.funding_sat - 95_000 - summary.closing_fee_sat
    );
    // The fee is 1000 sat/kw times the closing transaction's weight (give
    // or take the signatures' lengths), not whatever is left over.
    assert!(
        summary.closing_fee_sat.abs_diff(summary.closing_weight_wu) <= 4,
        "fee {} sat for {} wu at 1000 sat/kw",
        summary.closing_fee_sat,
        summary.closing_weight_wu
    );
}
