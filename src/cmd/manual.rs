//! `faultmap completions SHELL` and `faultmap man`: shell completion scripts and man pages,
//! generated from the same argument definitions as `--help` (clap_complete, clap_mangen), so
//! they never drift from the binary.

use crate::error::{Error, Result, EXIT_OK};
use crate::export::{emit, write_atomic};
use clap::Args as ClapArgs;
use std::path::PathBuf;

#[derive(Debug, Clone, ClapArgs)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, powershell or elvish. For bash, e.g.
    /// `faultmap completions bash > ~/.local/share/bash-completion/completions/faultmap`.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, ClapArgs)]
pub struct ManArgs {
    /// Write one page per command (faultmap.1, faultmap-slices.1, ...) into DIR instead of
    /// printing faultmap.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Prints the completion script of `command` for the shell.
pub fn completions(args: CompletionsArgs, mut command: clap::Command) -> Result<i32> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "faultmap", &mut script);
    emit(&script, None)?;
    Ok(EXIT_OK)
}

/// Prints `command`'s man page, or writes every command's page into `--dir`.
pub fn man(args: ManArgs, command: clap::Command) -> Result<i32> {
    let mut command = command.disable_help_subcommand(true);
    command.build();
    match &args.dir {
        None => emit(&render(&command)?, None)?,
        Some(dir) => write_pages(&command, dir)?,
    }
    Ok(EXIT_OK)
}

/// One page in roff.
fn render(command: &clap::Command) -> Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut page)
        .map_err(|e| Error::Analysis(format!("cannot render the man page: {e}")))?;
    Ok(page)
}

/// Writes the page of `command` and of each subcommand (atomically, as every file faultmap
/// writes), named as clap_mangen names them: the display name (`faultmap-regress-check`).
fn write_pages(command: &clap::Command, dir: &std::path::Path) -> Result<()> {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir)?;
    }
    let name = command
        .get_display_name()
        .unwrap_or_else(|| command.get_name());
    write_atomic(&dir.join(format!("{name}.1")), &render(command)?)
}
