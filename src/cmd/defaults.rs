//! Project defaults: options read from `faultmap.toml` (or `--defaults FILE`) so CI commands
//! stay short. Options given on the command line win over the file.
//!
//! ```toml
//! embedder = "static"            # top level: every command that has --embedder
//! [slices]
//! min-slice-size = 20
//! fail-on-slice = true
//! group-by = ["metadata.topic"]
//! [regress]                      # every regress action that has the option
//! metric = "pass-rate"
//! [regress.check]
//! fail-on = ["regression", "missing"]
//! ```
//!
//! Keys are the long option names. The file's options are inserted after the subcommand on
//! the argument list, so clap checks their values exactly as it checks typed ones.

use crate::error::{Error, Result};
use clap::builder::ArgAction;
use clap::parser::ValueSource;
use clap::{ArgMatches, Command};
use std::ffi::{OsStr, OsString};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The file read from the working directory when `--defaults` is not given.
pub const PROJECT_FILE: &str = "faultmap.toml";

/// Subcommands a defaults file may configure (the others take no analysis options).
const CONFIGURABLE: [&str; 4] = ["slices", "coverage", "score", "regress"];

/// Options taken from the defaults file for this run.
#[derive(Debug)]
pub struct Applied {
    pub file: String,
    pub options: Vec<AppliedOption>,
}

#[derive(Debug)]
pub struct AppliedOption {
    /// The option's long name.
    pub long: String,
    /// The tokens inserted on the argument list.
    pub tokens: Vec<String>,
    /// Where it was set: `faultmap.toml line 3 ([slices] min-slice-size)`.
    pub origin: String,
}

/// Returns `args` with the defaults file's options inserted after the subcommand, for the
/// options the command line does not set, and what was inserted. Without a file, or when
/// the command line does not parse (clap reports that on the real parse), `args` come back
/// unchanged.
pub fn apply(command: &Command, args: Vec<OsString>) -> Result<(Vec<OsString>, Option<Applied>)> {
    let Ok(matches) = command
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(&args)
    else {
        return Ok((args, None));
    };
    let mut path = vec![];
    let mut deepest = &matches;
    while let Some((name, sub)) = deepest.subcommand() {
        path.push(name.to_string());
        deepest = sub;
    }
    if path
        .first()
        .is_none_or(|name| !CONFIGURABLE.contains(&name.as_str()))
    {
        return Ok((args, None));
    }
    if deepest.get_flag("no_defaults") {
        return Ok((args, None));
    }
    let file = match deepest.get_one::<String>("defaults") {
        Some(file) => file.clone(),
        None if std::path::Path::new(PROJECT_FILE).is_file() => PROJECT_FILE.to_string(),
        None => return Ok((args, None)),
    };
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
    let document = Document::parse(&file, &text)?;
    document.check(command)?;

    let target = subcommand_at(command, &path).expect("clap matched this subcommand");
    let mut options = vec![];
    for (layer, key, value) in document.layers_for(&path) {
        let Some(arg) = target
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()))
        else {
            // A top-level or [regress] key for another command: checked above.
            continue;
        };
        if matches!(
            deepest.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) || options.iter().any(|o: &AppliedOption| o.long == key)
        {
            continue;
        }
        let origin = format!(
            "{file} line {} ({layer}{key})",
            document.line(value.span().start)
        );
        let tokens = tokens_for(arg, &key, value.get_ref())
            .map_err(|expected| document.error(value.span().start, expected))?;
        options.push(AppliedOption {
            long: key,
            tokens,
            origin,
        });
    }
    if options.is_empty() {
        return Ok((args, None));
    }
    let at = insertion_point(&args, &path);
    let mut merged: Vec<OsString> = args[..at].to_vec();
    merged.extend(
        options
            .iter()
            .flat_map(|o| o.tokens.iter().map(OsString::from)),
    );
    merged.extend_from_slice(&args[at..]);
    Ok((merged, Some(Applied { file, options })))
}

impl Applied {
    /// One line on stderr naming the options the file set, unless the command is quiet: a
    /// file in the working directory must not change a gate unseen.
    pub fn announce(&self, matches: &ArgMatches) {
        let mut deepest = matches;
        while let Some((_, sub)) = deepest.subcommand() {
            deepest = sub;
        }
        let quiet = matches!(deepest.try_get_one::<bool>("quiet"), Ok(Some(true)));
        if !quiet {
            let tokens: Vec<&str> = self
                .options
                .iter()
                .flat_map(|o| o.tokens.iter().map(String::as_str))
                .collect();
            crate::diag!("faultmap: options from {}: {}", self.file, tokens.join(" "));
        }
    }

    /// Where the option a clap error names came from, when the defaults file set it. clap
    /// names the option in its message (`--min-slice-size <N>`), as do our own value parsers.
    pub fn origin_of(&self, error: &clap::Error) -> Option<String> {
        let text = error.to_string();
        let named_in_text = |long: &str| {
            let flag = format!("--{long}");
            text.match_indices(&flag).any(|(at, _)| {
                !text[at + flag.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '-')
            })
        };
        self.options
            .iter()
            .find(|o| named_in_text(&o.long))
            .map(|o| {
                format!(
                    "note: --{} comes from {}; fix it there, or give the option on the command line, or pass --no-defaults",
                    o.long, o.origin
                )
            })
    }
}

/// A parsed defaults file: top-level options, and one table per subcommand.
struct Document<'t> {
    file: String,
    text: &'t str,
    table: DeTable<'t>,
}

type Entry<'t> = (String, String, &'t Spanned<DeValue<'t>>);

impl<'t> Document<'t> {
    fn parse(file: &str, text: &'t str) -> Result<Self> {
        let table = DeTable::parse(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            Error::input(file, line, None, e.message().to_string())
        })?;
        Ok(Document {
            file: file.to_string(),
            text,
            table: table.into_inner(),
        })
    }

    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    /// An error at `offset`; messages name the key themselves.
    fn error(&self, offset: usize, message: String) -> Error {
        Error::input(&self.file, Some(self.line(offset)), None, message)
    }

    /// Options in the order they apply, most specific first: `[regress.check]`, `[regress]`,
    /// then top level.
    fn layers_for(&'t self, path: &[String]) -> Vec<Entry<'t>> {
        let mut layers: Vec<(String, &DeTable)> = vec![("".into(), &self.table)];
        let mut table = &self.table;
        let mut name = String::new();
        for part in path {
            match table.get(part.as_str()).map(|v| v.get_ref()) {
                Some(DeValue::Table(inner)) => {
                    name = if name.is_empty() {
                        part.clone()
                    } else {
                        format!("{name}.{part}")
                    };
                    layers.push((format!("[{name}] "), inner));
                    table = inner;
                }
                _ => break,
            }
        }
        layers
            .into_iter()
            .rev()
            .flat_map(|(layer, table)| {
                table
                    .iter()
                    .filter(|(_, v)| !matches!(v.get_ref(), DeValue::Table(_)))
                    .map(move |(k, v)| (layer.clone(), k.get_ref().to_string(), v))
            })
            .collect()
    }

    /// Every key of the file names an option of the command its table is for (top-level keys:
    /// of some command), so a misspelt key is an error on every run, not only of its command.
    fn check(&self, command: &Command) -> Result<()> {
        let commands: Vec<&Command> = CONFIGURABLE
            .iter()
            .filter_map(|name| command.find_subcommand(name))
            .flat_map(leaves)
            .collect();
        self.check_table(&self.table, &commands, command, "")
    }

    fn check_table(
        &self,
        table: &DeTable,
        scope: &[&Command],
        parent: &Command,
        name: &str,
    ) -> Result<()> {
        for (key, value) in table {
            let (key, offset) = (key.get_ref().as_ref(), key.span().start);
            if let DeValue::Table(inner) = value.get_ref() {
                let sub = parent
                    .find_subcommand(key)
                    .filter(|_| !name.is_empty() || CONFIGURABLE.contains(&key));
                let Some(sub) = sub else {
                    let known: Vec<String> = if name.is_empty() {
                        CONFIGURABLE.iter().map(|s| s.to_string()).collect()
                    } else {
                        parent
                            .get_subcommands()
                            .map(|c| c.get_name().to_string())
                            .collect()
                    };
                    return Err(self.error(
                        offset,
                        format!(
                            "[{}] is not a faultmap command with options; tables can be {}",
                            join_name(name, key),
                            known
                                .iter()
                                .map(|k| format!("[{}]", join_name(name, k)))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                };
                let inner_scope = leaves(sub);
                self.check_table(inner, &inner_scope, sub, &join_name(name, key))?;
                continue;
            }
            let accepted = scope
                .iter()
                .any(|c| c.get_arguments().any(|a| a.get_long() == Some(key)));
            if !accepted {
                let mut known: Vec<String> = scope
                    .iter()
                    .flat_map(|c| {
                        c.get_arguments()
                            .filter_map(|a| a.get_long().map(str::to_string))
                    })
                    .collect();
                known.sort();
                known.dedup();
                let hint = match crate::input::suggest(key, &known, &[]) {
                    Some(close) => format!("; did you mean `{close}`?"),
                    None => String::new(),
                };
                let place = if name.is_empty() {
                    "any faultmap command".to_string()
                } else {
                    format!("faultmap {}", name.replace('.', " "))
                };
                return Err(
                    self.error(offset, format!("`{key}` is not an option of {place}{hint}"))
                );
            }
        }
        Ok(())
    }
}

fn join_name(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// The commands that run under `command`: itself, or its subcommands (regress's actions).
fn leaves(command: &Command) -> Vec<&Command> {
    if command.has_subcommands() {
        command.get_subcommands().collect()
    } else {
        vec![command]
    }
}

fn subcommand_at<'c>(command: &'c Command, path: &[String]) -> Option<&'c Command> {
    path.iter()
        .try_fold(command, |c, name| c.find_subcommand(name))
}

/// The argument-list tokens for one option, or what the value should have been.
fn tokens_for(
    arg: &clap::Arg,
    long: &str,
    value: &DeValue,
) -> std::result::Result<Vec<String>, String> {
    let scalar = |value: &DeValue| -> std::result::Result<String, String> {
        match value {
            DeValue::String(s) => Ok(s.to_string()),
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .map(|i| i.to_string())
                .map_err(|_| format!("`{long}` is too large")),
            DeValue::Float(f) => Ok(f.as_str().to_string()),
            DeValue::Boolean(b) => Ok(b.to_string()),
            _ => Err(format!(
                "`{long}` takes a string, a number or a boolean, not {}",
                value.type_str()
            )),
        }
    };
    match arg.get_action() {
        ArgAction::SetTrue => match value {
            DeValue::Boolean(true) => Ok(vec![format!("--{long}")]),
            DeValue::Boolean(false) => Ok(vec![]),
            _ => Err(format!(
                "`{long}` is a switch: write `{long} = true` or `{long} = false`"
            )),
        },
        ArgAction::Append => match value {
            DeValue::Array(items) => items
                .iter()
                .map(|item| scalar(item.get_ref()).map(|v| format!("--{long}={v}")))
                .collect(),
            other => Ok(vec![format!("--{long}={}", scalar(other)?)]),
        },
        ArgAction::Count => match value {
            DeValue::Integer(_) => {
                let n: usize = scalar(value)?
                    .parse()
                    .map_err(|_| format!("`{long}` is a count: write a whole number"))?;
                Ok(vec![format!("--{long}"); n])
            }
            _ => Err(format!("`{long}` is a count: write a whole number")),
        },
        _ => match value {
            DeValue::Array(_) => Err(format!("`{long}` takes one value, not a list")),
            other => Ok(vec![format!("--{long}={}", scalar(other)?)]),
        },
    }
}

/// Where the file's options go: right after the (deepest) subcommand's name. Before it the
/// command line can hold only the global `--defaults FILE` / `--no-defaults`.
fn insertion_point(args: &[OsString], path: &[String]) -> usize {
    let mut wanted = path.iter();
    let mut next = wanted.next();
    let mut i = 1;
    while i < args.len() {
        let token = args[i].as_os_str();
        if token == OsStr::new("--defaults") {
            i += 2;
            continue;
        }
        if next.is_some_and(|name| token == OsStr::new(name)) {
            next = wanted.next();
            if next.is_none() {
                return i + 1;
            }
        }
        i += 1;
    }
    args.len()
}
