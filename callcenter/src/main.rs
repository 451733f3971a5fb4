#[tokio::main]
async fn main() -> std::process::ExitCode {
    callcenter::cli::main().await
}
