//! The `sbn` command line: parses arguments, calls the library, prints results. Errors become a
//! message on stderr and a non-zero exit code.

mod common;
mod evaluate;
mod fit;
mod grad;
mod gradcheck;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "sbn", version, about = "Bayesian stochastic binary neural networks: PSA training, packed-bit Monte Carlo inference, calibration and uncertainty")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Gradient estimates for the real-weight cases of a JSON file (the PSA reference-vector schema).
    Grad(grad::Args),
    /// Bias, variance and cosine to the exact gradient of every estimator on the PSA paper's toy.
    Gradcheck(gradcheck::Args),
    /// Fit a Bayesian SBN from a model spec on training data.
    Fit(fit::Args),
    /// Accuracy, NLL, Brier and ECE of a fitted model's MC predictive on labelled data.
    Evaluate(evaluate::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Grad(args) => grad::run(args),
        Command::Gradcheck(args) => gradcheck::run(args),
        Command::Fit(args) => fit::run(args),
        Command::Evaluate(args) => evaluate::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
