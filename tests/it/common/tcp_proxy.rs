//! A TCP proxy in front of a database server, for injecting network faults into database
//! connections: new connections can be refused (accepted and closed at once) or held (accepted
//! and never forwarded), and open ones cut. TLS passes through untouched, so certificate
//! verification still sees the real server. Runs on its own thread, like the fault endpoint.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};

/// What happens to a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Forward both ways.
    Pass = 0,
    /// Accept, then close at once.
    Refuse = 1,
    /// Accept, then never forward a byte.
    Hang = 2,
}

pub struct TcpProxy {
    pub port: u16,
    mode: Arc<AtomicU8>,
    cut: Arc<tokio::sync::watch::Sender<u64>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TcpProxy {
    /// A proxy on 127.0.0.1 in front of `upstream` (host:port).
    pub fn start(upstream: String) -> TcpProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let cut = Arc::new(cut);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (m, c) = (Arc::clone(&mode), Arc::clone(&cut));
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let serve = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            continue;
                        };
                        let mode = m.load(Ordering::SeqCst);
                        let upstream = upstream.clone();
                        let mut cut = c.subscribe();
                        tokio::spawn(async move {
                            if mode == Mode::Refuse as u8 {
                                drop(client);
                                return;
                            }
                            if mode == Mode::Hang as u8 {
                                let _ = cut.changed().await;
                                drop(client);
                                return;
                            }
                            let Ok(server) = TcpStream::connect(&upstream).await else {
                                return;
                            };
                            let (mut cr, mut cw) = client.into_split();
                            let (mut sr, mut sw) = server.into_split();
                            tokio::select! {
                                _ = tokio::io::copy(&mut cr, &mut sw) => {}
                                _ = tokio::io::copy(&mut sr, &mut cw) => {}
                                _ = cut.changed() => {}
                            }
                        });
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
        });
        TcpProxy {
            port,
            mode,
            cut,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Sets what happens to new connections.
    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Cuts every open (or held) connection.
    pub fn cut_all(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut_all();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
