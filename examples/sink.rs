//! The delivery end for tests and VM boots: accepts TCP connections, appends every byte it
//! receives to `--out`, and acknowledges by writing back the decimal total of bytes received
//! on that connection plus "\n" (the protocol `shipsim` speaks). While `--pause-file` exists it
//! stops reading (an unreachable output: the shipper's sends back up, nothing is acked).
//! `--no-ack` makes it a plain receiver that never writes back, as a syslog server: syslog-ng
//! takes bytes arriving on a destination connection for a broken one and reconnects only
//! after `time-reopen` (60 s).
//!
//!     sink --listen 127.0.0.1:0 --out received.log [--pause-file PATH] [--no-ack]
//!
//! Prints `listening on ADDR` on stdout once bound.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    pause_file: Option<PathBuf>,
    #[arg(long)]
    no_ack: bool,
}

fn serve(mut s: TcpStream, out: Arc<Mutex<std::fs::File>>, pause: Option<PathBuf>, ack: bool) {
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while pause.as_ref().is_some_and(|p| p.exists()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let n = match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        {
            let mut f = out.lock().expect("sink file lock");
            if f.write_all(&buf[..n]).and_then(|_| f.flush()).is_err() {
                return;
            }
        }
        total += n as u64;
        if ack && s.write_all(format!("{total}\n").as_bytes()).is_err() {
            return;
        }
    }
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(&args.listen)?;
    println!("listening on {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let out = Arc::new(Mutex::new(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&args.out)?,
    ));
    for conn in listener.incoming() {
        let Ok(s) = conn else { continue };
        let (out, pause, ack) = (out.clone(), args.pause_file.clone(), !args.no_ack);
        std::thread::spawn(move || serve(s, out, pause, ack));
    }
    Ok(())
}
