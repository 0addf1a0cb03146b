//! Running the real `siteboxd` binary in a temp dir, for end-to-end tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A running `siteboxd` with its own data dir and config file. Killed when dropped.
#[derive(Debug)]
pub struct Siteboxd {
    child: Option<Child>,
    binary: PathBuf,
    dir: PathBuf,
    config: PathBuf,
    log: Arc<(Mutex<Vec<String>>, Condvar)>,
    env: Vec<(String, String)>,
}

impl Siteboxd {
    /// Writes `config_toml` to `dir/sitebox.toml` and starts `siteboxd run` on it. The config
    /// must set `[store] data_dir` (use [`Siteboxd::base_config`]).
    pub fn start(binary: &Path, dir: &Path, config_toml: &str) -> Self {
        Self::start_with_env(binary, dir, config_toml, &[])
    }

    /// [`Siteboxd::start`] with extra environment variables (e.g. a failpoint, `NOTIFY_SOCKET`),
    /// kept for every restart until [`Siteboxd::set_env`].
    pub fn start_with_env(
        binary: &Path,
        dir: &Path,
        config_toml: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let config = dir.join("sitebox.toml");
        std::fs::write(&config, config_toml).expect("write config");
        let mut daemon = Self {
            child: None,
            binary: binary.to_path_buf(),
            dir: dir.to_path_buf(),
            config,
            log: Arc::default(),
            env: Vec::new(),
        };
        daemon.set_env(env);
        daemon.restart();
        daemon
    }

    /// `[site]`, `[store]`, `[secrets]`, `[radius]` and `[web]` sections for a daemon whose
    /// data lives in `dir`, with RADIUS and the web page on free loopback ports (see
    /// [`Siteboxd::radius_ports`] and [`Siteboxd::web_addr`]).
    pub fn base_config(dir: &Path) -> String {
        let (auth, acct) = (crate::ports::free_udp_port(), crate::ports::free_udp_port());
        let web = crate::ports::free_tcp_port();
        format!(
            "[site]\ntenant = \"test-tenant\"\nsite = \"test-site\"\nname = \"Test site\"\n\n\
             [store]\ndata_dir = \"{data}\"\nsynchronous = \"full\"\n\n\
             [secrets]\nkey_file = \"{key}\"\ncreate_if_missing = true\n\n\
             [radius]\nauth_listen = \"127.0.0.1:{auth}\"\nacct_listen = \"127.0.0.1:{acct}\"\ncoa_source = \"127.0.0.1\"\n\n\
             [web]\nlisten = \"127.0.0.1:{web}\"\n\n\
             [log]\nlevel = \"info,sitebox=debug\"\n",
            data = dir.join("data").display(),
            key = dir.join("secret.key").display(),
        )
    }

    /// The RADIUS authentication and accounting ports of the config.
    pub fn radius_ports(&self) -> (u16, u16) {
        let config = std::fs::read_to_string(&self.config).expect("read config");
        let port = |key: &str| -> u16 {
            config
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|rest| {
                    rest.trim()
                        .trim_start_matches('=')
                        .trim()
                        .trim_matches('"')
                        .rsplit(':')
                        .next()
                        .map(str::to_string)
                })
                .and_then(|port| port.parse().ok())
                .unwrap_or_else(|| panic!("no {key} in the config"))
        };
        (port("auth_listen"), port("acct_listen"))
    }

    /// The web page's address: `[web] listen` of the config.
    pub fn web_addr(&self) -> std::net::SocketAddr {
        let config = std::fs::read_to_string(&self.config).expect("read config");
        config
            .lines()
            .find_map(|line| line.trim().strip_prefix("listen"))
            .map(|rest| rest.trim().trim_start_matches('=').trim().trim_matches('"'))
            .and_then(|addr| addr.parse().ok())
            .expect("no [web] listen in the config")
    }

    /// Runs `siteboxd --config … ARGS` with `stdin` as its standard input (passwords).
    pub fn cli_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(&self.binary)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run siteboxd");
        std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), stdin.as_bytes())
            .expect("write stdin");
        drop(child.stdin.take());
        child.wait_with_output().expect("siteboxd output")
    }

    /// The extra environment of the next [`Siteboxd::restart`] (replacing the previous one).
    pub fn set_env(&mut self, env: &[(&str, &str)]) {
        self.env = env
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
    }

    /// Whether the process has exited (e.g. aborted at a failpoint); reaps it.
    pub fn exited(&mut self) -> bool {
        let done = self
            .child
            .as_mut()
            .is_none_or(|child| child.try_wait().ok().flatten().is_some());
        if done {
            self.child = None;
        }
        done
    }

    /// Starts the daemon again on the same config and data (after a kill or stop).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut child = Command::new(&self.binary)
            .arg("--config")
            .arg(&self.config)
            .arg("run")
            .env("RUST_LOG_STYLE", "never")
            .env_remove("RUST_LOG")
            // The tests run as root (CI containers); the daemon refuses root unless told.
            .env("SITEBOX_ALLOW_ROOT", "1")
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start siteboxd");
        // The daemon logs to stdout; start-up errors go to stderr. Both land in the log.
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        self.collect(stdout);
        self.collect(stderr);
        self.child = Some(child);
    }

    fn collect(&self, stream: impl std::io::Read + Send + 'static) {
        let log = Arc::clone(&self.log);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let (lines, changed) = &*log;
                lines.lock().expect("log").push(line);
                changed.notify_all();
            }
        });
    }

    /// Waits until a log line containing `needle` appears (counting lines from every run).
    /// Panics with the log after `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let (lines, changed) = &*self.log;
        let mut guard = lines.lock().expect("log");
        loop {
            if guard.iter().any(|line| line.contains(needle)) {
                return;
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "no log line with {needle:?} within {timeout:?}; log:\n{}",
                guard.join("\n")
            );
            guard = changed.wait_timeout(guard, deadline - now).expect("log").0;
        }
    }

    /// How many log lines so far contain `needle`.
    pub fn count_log(&self, needle: &str) -> usize {
        self.log
            .0
            .lock()
            .expect("log")
            .iter()
            .filter(|line| line.contains(needle))
            .count()
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        self.log.0.lock().expect("log").join("\n")
    }

    /// SIGKILL, as a power cut would (no drain, no flush).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("not running");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        child.wait().expect("wait")
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Runs `siteboxd --config … ARGS` (a CLI command beside the running daemon).
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(&self.binary)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .expect("run siteboxd")
    }

    /// The temp dir holding the config and data.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database file.
    pub fn database(&self) -> PathBuf {
        self.dir.join("data").join("sitebox.db")
    }
}

impl Drop for Siteboxd {
    fn drop(&mut self) {
        self.kill9();
    }
}
