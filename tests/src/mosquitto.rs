//! A throwaway mosquitto (the Debian package) on a free loopback port, with its own config,
//! ACL, password file and persistence in a temp dir. Killed when dropped.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{peers, ports};

/// A running mosquitto.
#[derive(Debug)]
pub struct Mosquitto {
    child: Option<Child>,
    binary: PathBuf,
    config: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Mosquitto {
    /// Starts mosquitto in `dir` (which must exist) with `acl` and `passwords` (mosquitto
    /// `acl_file` and `password_file` contents). Anonymous clients are refused; persistence is
    /// on, so a restart keeps sessions and queued messages saved before the stop.
    pub fn start(dir: &Path, acl: &str, passwords: &str) -> Self {
        let binary = peers::program("mosquitto", "mosquitto");
        let port = ports::free_tcp_port();
        std::fs::write(dir.join("acl"), acl).expect("write acl");
        std::fs::write(dir.join("passwords"), passwords).expect("write passwords");
        std::fs::create_dir_all(dir.join("persistence")).expect("persistence dir");
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "# Test broker.\n\
                 user root\n\
                 per_listener_settings false\n\
                 allow_anonymous false\n\
                 password_file {dir}/passwords\n\
                 acl_file {dir}/acl\n\
                 persistence true\n\
                 persistence_location {dir}/persistence/\n\
                 autosave_interval 1\n\
                 max_queued_messages 100000\n\
                 max_inflight_messages 100\n\
                 log_dest file {dir}/mosquitto.log\n\
                 log_type error\n\
                 log_type warning\n\
                 log_type notice\n\
                 log_type information\n\
                 connection_messages true\n\
                 listener {port} 127.0.0.1\n",
                dir = dir.display()
            ),
        )
        .expect("write mosquitto.conf");
        let mut broker = Self {
            child: None,
            binary,
            config,
            dir: dir.to_path_buf(),
            port,
        };
        broker.restart();
        broker
    }

    /// Starts it again on the same port, config and persistence (after [`Mosquitto::kill9`]).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "mosquitto already running");
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(self.addr()).is_err() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("mosquitto exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no persistence flush beyond the last autosave.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Rewrites the ACL and password file and tells mosquitto to reload them (SIGHUP).
    pub fn reload(&self, acl: &str, passwords: &str) {
        std::fs::write(self.dir.join("acl"), acl).expect("write acl");
        std::fs::write(self.dir.join("passwords"), passwords).expect("write passwords");
        if let Some(child) = &self.child {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
        }
    }

    /// The listener's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The listener's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill9();
    }
}
