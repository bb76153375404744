//! The Tauri core of the example. Two ways for the window to reach the sidecar:
//!
//! - The window spawns it itself with `Command.sidecar` (ui/'s Tauri transport). The core only
//!   registers the shell plugin (capabilities/default.json says what the window may do) and
//!   answers `app_pid`, so the sidecar gets `--parent-pid` and exits if the app dies, and
//!   `mcp_config`, the app's MCP servers file (`--mcp-config`) when the user has one.
//! - The Rust variant (`sidecar_start` / `sidecar_send` / `sidecar_stop`, used by
//!   src/channel-transport.ts): the core spawns the sidecar with tauri_plugin_shell's `ShellExt`
//!   and forwards its stdout to the window through a `tauri::ipc::Channel`, one message per
//!   stdout read holding the whole lines of that read. Channels keep order and are what Tauri
//!   advises for streams; an `emit` per token would go through the event system each time.
//!
//! The Rust variant follows docs/protocol.md §9: stdout is split on `\n` only (lines.rs, over raw
//! bytes: the plugin's own line mode also splits on `\r`), nothing is written before
//! `sidecar:ready` (requests wait in a queue), and no sidecar outlives its page or the app: a new
//! `sidecar_start` (a reload) kills the previous one, and so does the app's exit.

mod lines;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, RunEvent, State};
use tauri_plugin_shell::process::{CommandChild, CommandEvent};
use tauri_plugin_shell::ShellExt;

use crate::lines::LineSplitter;

/// The file name of `bundle > externalBin`'s "binaries/ollama-sidecar" (Tauri adds the triple).
const SIDECAR: &str = "ollama-sidecar";
/// The protocol number this app speaks (`sidecar:ready` > params > protocol).
const PROTOCOL: u64 = 1;

/// What the window receives on its channel (see `SidecarEvent` in src/channel-transport.ts).
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase", tag = "event", content = "data")]
enum SidecarEvent {
    /// The whole lines of one stdout read, without their "\n".
    Lines { lines: Vec<String> },
    /// The sidecar is gone; nothing follows.
    Exit { reason: String },
}

/// The running sidecar of the Rust variant (one for the app's window).
struct Running {
    connection: u64,
    child: CommandChild,
    ready: bool,
    queue: Vec<String>,
}

impl Running {
    fn write_line(&mut self, line: &str) -> Result<(), String> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.child.write(&bytes).map_err(|error| error.to_string())
    }
}

#[derive(Default)]
struct Sidecar {
    running: Mutex<Option<Running>>,
    next_connection: AtomicU64,
}

impl Sidecar {
    fn lock(&self) -> MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the running sidecar out and kills it (when it is `connection`, or any with `None`).
    fn stop(&self, connection: Option<u64>) {
        let taken = {
            let mut running = self.lock();
            match running.as_ref() {
                Some(current) if connection.map_or(true, |c| c == current.connection) => running.take(),
                _ => None,
            }
        };
        if let Some(running) = taken {
            retire(running.child);
        }
    }
}

/// Asks a sidecar to stop, then kills it if it has not gone within a grace period.
///
/// `shutdown` first, because SIGKILL (what `CommandChild::kill` sends) gives the sidecar no
/// chance to stop an `exec_shell` command it is running; a clean `shutdown` cancels its chats and
/// kills their process groups. When the app itself exits, the sidecar also sees its stdin close
/// and its stdout lose its reader, and stops within a second, even if the kill below never runs.
fn retire(mut child: CommandChild) {
    let _ = child.write(b"{\"jsonrpc\":\"2.0\",\"method\":\"shutdown\"}\n");
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(2));
        let _ = child.kill(); // an error here means it is already gone
    });
}

/// This process's id, for the window's own `--parent-pid` (the plugin variant).
#[tauri::command]
fn app_pid() -> u32 {
    std::process::id()
}

/// The app's MCP servers file, when the user has one: `mcp.json` in the app's config folder
/// (`~/.config/<identifier>/` on Linux, `~/Library/Application Support/<identifier>/` on macOS,
/// `%APPDATA%\\<identifier>\\` on Windows), in the `mcpServers` shape Claude Desktop and Cursor
/// write. Both variants pass it to the sidecar as `--mcp-config FILE` (docs/protocol.md, "MCP servers").
#[tauri::command]
fn mcp_config(app: AppHandle) -> Option<String> {
    let file = app.path().app_config_dir().ok()?.join("mcp.json");
    file.is_file().then(|| file.to_string_lossy().into_owned())
}

/// The sidecar's arguments: `--parent-pid` (this process), then `--mcp-config FILE` if there is one.
fn sidecar_args(app: &AppHandle) -> Vec<String> {
    let mut args = vec!["--parent-pid".to_string(), std::process::id().to_string()];
    if let Some(file) = mcp_config(app.clone()) {
        args.extend(["--mcp-config".to_string(), file]);
    }
    args
}

/// Spawns a sidecar for the window (killing the previous one) and streams its lines to `on_event`.
#[tauri::command]
fn sidecar_start(app: AppHandle, state: State<'_, Sidecar>, on_event: Channel<SidecarEvent>) -> Result<u64, String> {
    let (mut events, child) = app
        .shell()
        .sidecar(SIDECAR)
        .map_err(|error| error.to_string())?
        .args(sidecar_args(&app))
        .set_raw_out(true)
        .spawn()
        .map_err(|error| error.to_string())?;
    let connection = state.next_connection.fetch_add(1, Ordering::Relaxed) + 1;
    let previous = state.lock().replace(Running { connection, child, ready: false, queue: Vec::new() });
    if let Some(previous) = previous {
        retire(previous.child);
    }

    tauri::async_runtime::spawn(async move {
        let mut splitter = LineSplitter::default();
        while let Some(event) = events.recv().await {
            match event {
                CommandEvent::Stdout(bytes) => {
                    let lines = splitter.push(&bytes);
                    if lines.is_empty() {
                        continue;
                    }
                    if let Some(reason) = release_queue(&app, connection, &lines) {
                        let _ = on_event.send(SidecarEvent::Lines { lines });
                        let _ = on_event.send(SidecarEvent::Exit { reason });
                        app.state::<Sidecar>().stop(Some(connection));
                        return;
                    }
                    let _ = on_event.send(SidecarEvent::Lines { lines });
                }
                CommandEvent::Stderr(bytes) => eprint!("[sidecar] {}", String::from_utf8_lossy(&bytes)),
                CommandEvent::Error(message) => eprintln!("[sidecar] {message}"),
                CommandEvent::Terminated(payload) => {
                    {
                        let state = app.state::<Sidecar>();
                        let mut running = state.lock();
                        if running.as_ref().is_some_and(|r| r.connection == connection) {
                            *running = None;
                        }
                    }
                    let code = payload.code.map_or("none".to_string(), |c| c.to_string());
                    let signal = payload.signal.map_or("none".to_string(), |s| s.to_string());
                    let reason = format!("sidecar exited (code {code}, signal {signal})");
                    let _ = on_event.send(SidecarEvent::Exit { reason });
                }
                _ => {}
            }
        }
    });
    Ok(connection)
}

/// When `lines` hold this connection's `sidecar:ready`, writes the queued requests. Returns a
/// reason to give up when the sidecar speaks another protocol.
fn release_queue(app: &AppHandle, connection: u64, lines: &[String]) -> Option<String> {
    let state = app.state::<Sidecar>();
    let mut running = state.lock();
    let current = running.as_mut().filter(|r| r.connection == connection && !r.ready)?;
    let protocol = lines.iter().find_map(|line| ready_protocol(line))?;
    if protocol != PROTOCOL {
        return Some(format!("the sidecar speaks protocol {protocol}, this app protocol {PROTOCOL}"));
    }
    current.ready = true;
    for line in std::mem::take(&mut current.queue) {
        if current.write_line(&line).is_err() {
            break; // the sidecar is gone; Terminated tells the window
        }
    }
    None
}

/// `Some(protocol)` when `line` is a `sidecar:ready` notification.
fn ready_protocol(line: &str) -> Option<u64> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message.get("method")?.as_str()? != "sidecar:ready" {
        return None;
    }
    Some(message.get("params")?.get("protocol")?.as_u64().unwrap_or(0))
}

/// Writes one protocol line (no "\n" inside) to the sidecar, or queues it until `sidecar:ready`.
#[tauri::command]
fn sidecar_send(state: State<'_, Sidecar>, connection: u64, line: String) -> Result<(), String> {
    if line.contains('\n') {
        return Err("a protocol line cannot contain a newline".into());
    }
    let mut running = state.lock();
    let current = running
        .as_mut()
        .filter(|r| r.connection == connection)
        .ok_or_else(|| "the sidecar is not running".to_string())?;
    if current.ready {
        current.write_line(&line)
    } else {
        current.queue.push(line);
        Ok(())
    }
}

/// Kills the window's sidecar (its transport was closed).
#[tauri::command]
fn sidecar_stop(state: State<'_, Sidecar>, connection: u64) {
    state.stop(Some(connection));
}

#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    tauri::Builder::default()
        .plugin(tauri_plugin_shell::init())
        .manage(Sidecar::default())
        .invoke_handler(tauri::generate_handler![app_pid, mcp_config, sidecar_start, sidecar_send, sidecar_stop])
        .build(tauri::generate_context!())
        .expect("error while building the Tauri application")
        .run(|app, event| {
            // The app is exiting: no sidecar of the Rust variant outlives it.
            if let RunEvent::Exit = event {
                app.state::<Sidecar>().stop(None);
            }
        });
}
