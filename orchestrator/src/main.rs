//! `orchestrator`: brings the stack declared in a stack file up and down
//! through the Docker Engine API.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use orchestrator::commands::{
    self, down, export, import, logs, plan, status, up, validate, Failure, Global,
};
use orchestrator::progress::{Mode, Progress};
use orchestrator::project_lock;

#[derive(Debug, Parser)]
#[command(version, about, after_help = commands::EXIT_CODES_HELP)]
struct Cli {
    /// Stack file; relative paths inside it resolve against its directory.
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        default_value = "infra.toml",
        value_name = "FILE"
    )]
    file: PathBuf,
    /// Print nothing but errors and requested output.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

/// One variant per subcommand, each implemented in `commands::<name>`.
#[derive(Debug, Subcommand)]
enum Command {
    /// Check the stack file and exit, without calling Docker.
    Validate(validate::ValidateArgs),
    /// List what `up` would do to each resource and why, changing nothing.
    Plan(plan::PlanArgs),
    /// Build, create, run and start whatever differs from the stack file.
    Up(up::UpArgs),
    /// Stop and remove the stack's containers and network.
    Down(down::DownArgs),
    /// Show each resource of the stack, its state, health and ports.
    Status(status::StatusArgs),
    /// Print the log of one of the stack's containers.
    Logs(logs::LogsArgs),
    /// Write the stack's images or its model volume to verified tar archives.
    Export(export::ExportArgs),
    /// Verify archives from `export`, then load their images or restore the model volume.
    #[command(alias = "load")]
    Import(import::ImportArgs),
}

/// Returns the recovery step to print after Ctrl-C ended `command`.
fn interrupted_next_step(command: &Command) -> &'static str {
    match command {
        Command::Up(_) => "run `up` again to converge from the state left behind",
        Command::Down(_) => "run `down` again to remove what is left",
        Command::Export(_) => {
            "run `export` again; an unfinished archive is never left at the target path"
        }
        Command::Import(_) => {
            "run `import` again; it verifies the archives again and loads or restores what is missing"
        }
        _ => "nothing was changed",
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let global = Global {
        file: cli.file.clone(),
        progress: Progress::new(Mode::detect(cli.quiet)),
    };

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            result = dispatch(&global, &cli.command) => result,
            _ = tokio::signal::ctrl_c() => match &cli.command {
                // Ctrl-C is how the user ends a follow, so it counts as success.
                Command::Logs(args) if args.follow => Ok(()),
                command => Err(Failure::Interrupted {
                    next_step: interrupted_next_step(command),
                }
                .into()),
            },
        }
    });
    // Dropping the runtime here ends the command's tasks; build-step child
    // processes are killed with them.
    drop(runtime);

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", render(&error));
            ExitCode::from(commands::exit_code(&error) as u8)
        }
    }
}

async fn dispatch(global: &Global, command: &Command) -> anyhow::Result<()> {
    // Mutating commands run one at a time per project. An invalid stack file
    // takes no lock: the command itself reports it.
    let _lock = match command {
        Command::Up(_) | Command::Down(_) | Command::Import(_) => {
            match commands::load_stack(&global.file) {
                Ok(stack) => Some(project_lock::acquire(&stack, &global.progress).await?),
                Err(_) => None,
            }
        }
        _ => None,
    };
    match command {
        Command::Validate(args) => validate::run(global, args).await,
        Command::Plan(args) => plan::run(global, args).await,
        Command::Up(args) => up::run(global, args).await,
        Command::Down(args) => down::run(global, args).await,
        Command::Status(args) => status::run(global, args).await,
        Command::Logs(args) => logs::run(global, args).await,
        Command::Export(args) => export::run(global, args).await,
        Command::Import(args) => import::run(global, args).await,
    }
}

/// Prints the error and each distinct cause once.
fn render(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str("\n  caused by: ");
            text.push_str(&cause);
        }
    }
    text
}

/// Sends diagnostics to stderr at `warn`, or at the level RUST_LOG sets.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
