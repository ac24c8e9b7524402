//! The demo's walk-through, run by CI.

#[test]
fn demo_runs_and_balances_add_up() {
    let summary = examples::demo::run(true).expect("demo");
    assert_eq!(
        summary.alice_sat + summary.bob_sat + summary.closing_fee_sat,
        summary.funding_sat
    );
    assert_eq!(summary.bob_sat, 95_000);
}
