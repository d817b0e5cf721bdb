//! `authctl`: see the library's documentation, or `authctl --help`.

use std::io::IsTerminal as _;

fn main() -> std::process::ExitCode {
    let stdin = std::io::stdin();
    let stdin_is_terminal = stdin.is_terminal();
    let mut input = stdin.lock();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let exit = authctl::run(
        std::env::args_os(),
        &mut authctl::Console {
            stdin: &mut input,
            stdin_is_terminal,
            stdout: &mut stdout,
            stderr: &mut stderr,
        },
    );
    std::process::ExitCode::from(exit.code())
}
