#[tokio::main]
async fn main() -> std::process::ExitCode {
    aftercare::cli::main().await
}
