//! `lnctl` subcommands. Each returns its output, or a one-line error that
//! the binary prints to stderr before exiting non-zero.

pub mod msg;

/// Runs `lnctl` with `args` (without the program name).
pub fn run(args: &[String]) -> Result<String, String> {
    match args.first().map(String::as_str) {
        // Subcommands are added here, one module each.
        Some("decodemsg") => msg::decodemsg(&args[1..]),
        Some("encodemsg") => msg::encodemsg(&args[1..]),
        Some(other) => Err(format!("unknown command {other:?}\n{USAGE}")),
        None => Err(USAGE.to_owned()),
    }
}

/// Usage text.
pub const USAGE: &str = "usage: lnctl <command> [args]";
