//! `lnctl`: decode and encode Lightning messages from the command line.
fn main() {
    eprintln!("lnctl: not implemented yet");
    std::process::exit(2);
}
