//! Loopback peers that make a real Envoy's `http_call` end the way a test scripted it: a
//! server that never answers (the call times out), a port nobody listens on (connect
//! failure), and a server that resets the connection after reading the request. Each stops
//! when dropped.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What a [`CalloutTarget`] does with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetBehaviour {
    /// Accept, read, never answer: the caller's timeout fires.
    Silent,
    /// Accept, read the request, then close with a TCP reset.
    Reset,
}

/// A running loopback peer for one [`TargetBehaviour`].
pub struct CalloutTarget {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CalloutTarget {
    /// Bind `127.0.0.1:0` and serve connections the given way in a background thread.
    pub fn start(behaviour: TargetBehaviour) -> std::io::Result<CalloutTarget> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("callout-target-{}", addr.port()))
            .spawn(move || serve(listener, behaviour, &flag))?;
        Ok(CalloutTarget {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for CalloutTarget {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: TcpListener, behaviour: TargetBehaviour, stop: &AtomicBool) {
    // Silent connections are kept open (never answered) until the target stops.
    let mut held: Vec<TcpStream> = Vec::new();
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(mut conn) = conn else { continue };
        match behaviour {
            TargetBehaviour::Silent => {
                if held.len() < 256 {
                    held.push(conn);
                }
            }
            TargetBehaviour::Reset => {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                // SO_LINGER 0: close() sends RST instead of FIN.
                let _ = socket_linger_zero(&conn);
                drop(conn);
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn socket_linger_zero(conn: &TcpStream) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket fd and a correctly sized, live `linger` struct.
    let rc = unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn socket_linger_zero(_conn: &TcpStream) -> std::io::Result<()> {
    Ok(())
}

/// A loopback port with nothing listening on it (bound once, then released).
pub fn closed_port() -> std::io::Result<SocketAddr> {
    let l = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    l.local_addr()
}
