//! `platform`: plan, apply and destroy typed AWS stacks.

fn main() -> std::process::ExitCode {
    platform_cli::main()
}
