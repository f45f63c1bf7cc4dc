//! The `faultmap` binary: parses arguments, runs a subcommand, maps errors to exit codes.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use faultmap::cmd;
use faultmap::error::EXIT_ERROR;

const EXIT_CODES: &str = "\
Exit codes:
  0  success, no gate tripped
  1  a gate tripped (slices: --fail-on-slice found a significant slice; coverage: the covered
     share of traffic is below --min-coverage; score: the share of REJECT rows is above
     --max-reject-rate; regress: a gate of --fail-on tripped); a `gate:` line on stderr says
     which gate and why
  2  usage error, invalid input, or any other error";

/// Find where and why an LLM feature fails.
#[derive(Debug, Parser)]
#[command(name = "faultmap", version, after_help = EXIT_CODES, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Read default options from FILE (TOML: a table per command, keys are long option
    /// names). Without it, ./faultmap.toml is read when present. Options given on the command
    /// line win.
    #[arg(long, global = true, value_name = "FILE")]
    defaults: Option<String>,
    /// Ignore ./faultmap.toml and --defaults.
    #[arg(long, global = true, conflicts_with = "defaults")]
    no_defaults: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Find input slices (clusters of similar prompts, metadata groups) that fail significantly
    /// more often than the rest.
    #[command(after_help = EXIT_CODES)]
    Slices(Box<cmd::slices::Args>),
    /// Find production prompts no test is near (gaps) and topics tested far below their share
    /// of traffic.
    #[command(after_help = EXIT_CODES)]
    Coverage(Box<cmd::coverage::Args>),
    /// Score each response (grounding, specificity, relevance, context quality) and decide
    /// ACCEPT / REVIEW / REJECT.
    #[command(after_help = EXIT_CODES)]
    Score(Box<cmd::score::Args>),
    /// Record a baseline run, check a candidate against it, or compare two runs: paired
    /// statistics per run and per slice, exit 1 on regression.
    #[command(after_help = EXIT_CODES, subcommand_required = true)]
    Regress(Box<cmd::regress::Args>),
    /// Print a shell completion script.
    Completions(cmd::manual::CompletionsArgs),
    /// Print the man page (roff), or write one per command with --dir.
    Man(cmd::manual::ManArgs),
}

fn main() {
    let (args, defaults) =
        match cmd::defaults::apply(&Cli::command(), std::env::args_os().collect()) {
            Ok(applied) => applied,
            Err(e) => {
                faultmap::diag!("error: {e}");
                std::process::exit(EXIT_ERROR);
            }
        };
    let cli = match Cli::command()
        .try_get_matches_from(args)
        .and_then(|matches| Ok((Cli::from_arg_matches(&matches)?, matches)))
    {
        Ok((cli, matches)) => {
            if let Some(defaults) = &defaults {
                defaults.announce(&matches);
            }
            cli
        }
        Err(e) => {
            // clap exits 2 on usage errors and 0 for --help / --version.
            if let Some(origin) = defaults.as_ref().and_then(|d| d.origin_of(&e)) {
                let _ = e.print();
                faultmap::diag!("{origin}");
                std::process::exit(EXIT_ERROR);
            }
            e.exit();
        }
    };
    let result = match cli.command {
        Command::Slices(args) => cmd::slices::run(*args),
        Command::Coverage(args) => cmd::coverage::run(*args),
        Command::Score(args) => cmd::score::run(*args),
        Command::Regress(args) => cmd::regress::run(*args),
        Command::Completions(args) => cmd::manual::completions(args, Cli::command()),
        Command::Man(args) => cmd::manual::man(args, Cli::command()),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            faultmap::diag!("error: {e}");
            std::process::exit(if e.exit_code() == 0 {
                EXIT_ERROR
            } else {
                e.exit_code()
            });
        }
    }
}
