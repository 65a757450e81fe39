//! Watches one dialogue live: prints every frame the server sends, one JSON object a line, from
//! the `welcome` on, until the server closes the session (or Ctrl-C).
//!
//! ```sh
//! cargo run -q -p dialogue-client --example watch -- http://127.0.0.1:8080 PROJECT DIALOGUE TOKEN
//! ```

use std::process::ExitCode;
use std::time::Duration;

use dialogue_client::{ClientError, LiveClient, ServerFrame};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, project, dialogue, token] = args.as_slice() else {
        eprintln!("usage: watch <url> <project> <dialogue> <token>");
        return ExitCode::from(2);
    };
    match watch(url, project, dialogue, token).await {
        Ok(code) => {
            eprintln!("watch: closed by the server, code {}", code.map_or("none".into(), |code| code.to_string()));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("watch: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Prints frames until the server closes; returns its close code.
async fn watch(url: &str, project: &str, dialogue: &str, token: &str) -> Result<Option<u16>, ClientError> {
    let (mut client, welcome) = LiveClient::connect(url, project, dialogue, token, None).await?;
    print(&ServerFrame::Welcome(Box::new(welcome)))?;
    // A quiet dialogue sends nothing for a long time; the server's pings keep the socket open.
    client.set_timeout(Duration::from_secs(365 * 24 * 3600));
    loop {
        match client.next().await {
            Ok(frame) => print(&frame)?,
            Err(ClientError::Closed(code)) => return Ok(code),
            Err(error) => return Err(error),
        }
    }
}

fn print(frame: &ServerFrame) -> Result<(), ClientError> {
    let line = serde_json::to_string(frame).map_err(|error| ClientError::Frame(error.to_string()))?;
    println!("{line}");
    Ok(())
}
