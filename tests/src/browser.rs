//! Headless Chromium driven over the Chrome DevTools Protocol, for the web page's tests.
//!
//! CDP rather than WebDriver: Chromium speaks it itself over a WebSocket (no chromedriver
//! process to match to the browser's version), screenshots come with it, and the client is
//! the WebSocket crate the daemon already uses. Clicks and typing go through CDP's `Input`
//! domain (real mouse and key events at the element's position), not through scripts.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::peers::program;

/// A headless Chromium with one page open. Killed when dropped.
#[derive(Debug)]
pub struct Browser {
    child: Child,
    runtime: tokio::runtime::Runtime,
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium (`chromium` from Debian) with a fresh profile and a page of
    /// `width`×`height` CSS pixels (`mobile` emulates a phone's viewport and touch).
    pub fn start(width: u32, height: u32, mobile: bool) -> Self {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new(program("chromium", "chromium"))
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        let stderr = child.stderr.take().expect("stderr");
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = send.send(url.trim().to_string());
                }
            }
        });
        let url = receive
            .recv_timeout(Duration::from_secs(30))
            .expect("Chromium did not print its DevTools address");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (socket, _) = runtime
            .block_on(tokio_tungstenite::connect_async(url.as_str()))
            .expect("connect to DevTools");
        let mut browser = Self {
            child,
            runtime,
            socket,
            session: String::new(),
            next_id: 0,
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }));
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_string();
        browser.call("Page.enable", json!({}));
        browser.call("Runtime.enable", json!({}));
        browser.resize(width, height, mobile);
        browser
    }

    /// Sets the viewport.
    pub fn resize(&mut self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        );
        self.call(
            "Emulation.setTouchEmulationEnabled",
            json!({ "enabled": mobile }),
        );
        // Screenshots show the page, not a scrollbar cutting its right edge off.
        self.call("Emulation.setScrollbarsHidden", json!({ "hidden": true }));
    }

    /// Sends a command to the page (or, before a page is attached, to the browser) and
    /// waits for its result. Panics on a protocol error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            command["sessionId"] = json!(self.session);
        }
        let socket = &mut self.socket;
        self.runtime.block_on(async {
            socket
                .send(Message::Text(command.to_string().into()))
                .await
                .expect("send to DevTools");
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let frame = tokio::time::timeout_at(deadline, socket.next())
                    .await
                    .unwrap_or_else(|_| panic!("{method}: no answer from Chromium"))
                    .expect("DevTools socket open")
                    .expect("DevTools frame");
                let Ok(text) = frame.to_text() else { continue };
                let Ok(reply) = serde_json::from_str::<Value>(text) else {
                    continue;
                };
                if reply["id"] == id {
                    if let Some(error) = reply.get("error") {
                        panic!("{method}: {error}");
                    }
                    return reply["result"].clone();
                }
            }
        })
    }

    /// Opens `url` and waits until the document has loaded.
    pub fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
        self.wait_for(
            "document.readyState === 'complete' && location.href !== 'about:blank'",
            Duration::from_secs(15),
        );
    }

    /// Evaluates `expression` in the page (promises awaited) and returns its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression}: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is truthy; returns how long that took. Panics with the page's
    /// text after `timeout`.
    pub fn wait_for(&mut self, expression: &str, timeout: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let value = self.eval(&format!("!!({expression})"));
            if value == json!(true) {
                return started.elapsed();
            }
            if started.elapsed() > timeout {
                let text = self.eval("document.body ? document.body.innerText : ''");
                panic!("`{expression}` not true within {timeout:?}; page:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Clicks the centre of the first element matching `selector`, with mouse events.
    pub fn click(&mut self, selector: &str) {
        let selector_json = serde_json::to_string(selector).expect("selector");
        let point = self.eval(&format!(
            "(() => {{ const e = document.querySelector({selector_json}); if (!e) return null;
               e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();
               return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ));
        let (x, y) = match point.as_array().map(Vec::as_slice) {
            Some([x, y]) => (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0)),
            _ => panic!("no element {selector} to click"),
        };
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// Focuses the element matching `selector` and types `text` into it.
    pub fn type_into(&mut self, selector: &str, text: &str) {
        self.click(selector);
        self.call("Input.insertText", json!({ "text": text }));
    }

    /// Presses Enter in the focused element.
    pub fn press_enter(&mut self) {
        for kind in ["keyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({ "type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r" }),
            );
        }
    }

    /// Saves a PNG of the whole page (beyond the viewport) to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let shot = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("artifacts dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where tests put screenshots: `$SITEBOX_ARTIFACTS` (set by tests/run.sh), else
/// `target/test-artifacts`.
pub fn artifacts_dir() -> PathBuf {
    std::env::var_os("SITEBOX_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::peers::workspace_root().join("target/test-artifacts"))
}
