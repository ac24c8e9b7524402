//! Two nodes, one channel: `cargo run --release -p examples --bin demo`.

fn main() {
    match examples::demo::run(false) {
        Ok(_) => {}
        Err(e) => {
            eprintln!("demo failed: {e}");
            std::process::exit(1);
        }
    }
}
