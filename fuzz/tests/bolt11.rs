#[test]
fn bolt11_parse_corpus() {
    let n = lightning_fuzz::run_corpus("bolt11_parse", lightning_fuzz::bolt11::parse);
    assert!(n >= 26);
}
