//! `lnctl`: Lightning messages and invoices from the command line.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match examples::lnctl::run(&args) {
        Ok(out) => println!("{out}"),
        Err(e) => {
            eprintln!("lnctl: {e}");
            std::process::exit(1);
        }
    }
}
