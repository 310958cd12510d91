//! `mailgate-dataplane check-config FILE`: validates a policy file the way
//! the dataplane will load it and prints what it holds.

use std::path::PathBuf;

/// Arguments of `check-config`.
#[derive(clap::Args)]
pub struct CheckConfigArgs {
    /// The policy file.
    file: PathBuf,
}

/// Runs `check-config`: 0 when valid (summary on stdout), 2 when not (errors on stderr).
pub fn run(args: CheckConfigArgs) -> u8 {
    match mailgate_dataplane::verdict::load_policy(Some(&args.file)) {
        Ok(policy) => {
            println!("{}: valid", args.file.display());
            print!("{}", policy.summary(time::OffsetDateTime::now_utc().date()));
            0
        }
        Err(e) => {
            eprintln!("{e}");
            2
        }
    }
}
