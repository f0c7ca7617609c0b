//! An SMTP server on loopback that keeps every message it accepts.
//!
//! Written here rather than taken from a crate: the embeddable SMTP servers
//! on crates.io (mailin-embedded) pull rustls with aws-lc-rs, a heavy C build
//! this project avoids. It speaks the protocol subset lettre uses.

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
}

pub struct SmtpSink {
    pub port: u16,
    pub messages: Arc<Mutex<Vec<Received>>>,
}

pub async fn start() -> SmtpSink {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let messages = Arc::new(Mutex::new(Vec::new()));
    let store = messages.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(session(socket, store.clone()));
        }
    });
    SmtpSink { port, messages }
}

async fn session(
    socket: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<Received>>>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let mut to = Vec::new();
    while let Some(line) = lines.next_line().await? {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 sink\r\n",
            "RCPT" => {
                to.push(
                    line.trim_start_matches(|c| c != '<')
                        .trim_matches(['<', '>', ' '])
                        .to_string(),
                );
                b"250 OK\r\n"
            }
            "DATA" => {
                write.write_all(b"354 go ahead\r\n").await?;
                let mut data = String::new();
                while let Some(l) = lines.next_line().await? {
                    if l == "." {
                        break;
                    }
                    data.push_str(&l);
                    data.push('\n');
                }
                store.lock().unwrap().push(Received {
                    to: std::mem::take(&mut to),
                    data,
                });
                b"250 queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"250 OK\r\n",
        };
        write.write_all(reply).await?;
    }
    Ok(())
}

/// A mailer that delivers to `sink`.
pub fn mailer(sink: &SmtpSink) -> canvas_connectors::Mailer {
    canvas_connectors::Mailer::new(&canvas_connectors::SmtpConfig {
        host: "127.0.0.1".into(),
        port: sink.port,
        security: canvas_connectors::SmtpSecurity::None,
        username: None,
        password: None,
        from: "Canvas <canvas@example.com>".into(),
    })
    .unwrap()
}
