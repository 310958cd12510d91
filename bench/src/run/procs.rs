//! Starting the programs the system stages compare (the appliance, testpmd,
//! ndpiReader, the sender): output to log files in the work directory (no
//! pipe can fill up and stall them), waits with deadlines, SIGINT by PID,
//! and the exact command line kept for RESULTS.md.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Polling period while waiting for a process or a line.
const POLL: Duration = Duration::from_millis(20);

/// `name` as found on `PATH`, or `name` itself when it is a path that exists.
pub fn find_program(name: &Path) -> Option<PathBuf> {
    if name.components().count() > 1 {
        return name.is_file().then(|| name.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// The command line of `cmd`, shell-quoted where needed.
pub fn command_line(cmd: &Command) -> String {
    let quote = |s: &str| {
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=,:@%+".contains(c)) {
            s.to_string()
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A started program whose stdout and stderr go to files.
pub struct Running {
    child: Child,
    /// What was started (for messages).
    pub name: String,
    /// Its command line.
    pub command: String,
    /// Its standard output.
    pub stdout: PathBuf,
    /// Its standard error.
    pub stderr: PathBuf,
}

/// Starts `cmd` with stdin closed and its output in `dir/{name}.out|.err`.
pub fn spawn(mut cmd: Command, dir: &Path, name: &str) -> anyhow::Result<Running> {
    let stdout = dir.join(format!("{name}.out"));
    let stderr = dir.join(format!("{name}.err"));
    cmd.stdin(Stdio::null())
        .stdout(File::create(&stdout).with_context(|| format!("creating {}", stdout.display()))?)
        .stderr(File::create(&stderr).with_context(|| format!("creating {}", stderr.display()))?);
    let command = command_line(&cmd);
    let child = cmd.spawn().with_context(|| format!("starting {command}"))?;
    Ok(Running { child, name: name.to_string(), command, stdout, stderr })
}

impl Running {
    /// Sends SIGINT (the way testpmd and the appliance are told to stop).
    pub fn interrupt(&self) -> anyhow::Result<()> {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::INT)
            .with_context(|| format!("sending SIGINT to {}", self.name))
    }

    /// Waits for the exit; past `timeout` the process is killed and this fails.
    pub fn wait(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                self.child.kill().ok();
                self.child.wait().ok();
                bail!("{} did not finish within {:?}; see {}", self.name, timeout, self.stderr.display());
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until stdout or stderr holds a line containing `needle`; fails
    /// when the process exits first or `timeout` passes.
    pub fn wait_for_output(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.output()?.contains(needle) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited ({status}) before saying {needle:?}:\n{}", self.name, self.tail()?);
            }
            if Instant::now() >= deadline {
                bail!("{} did not say {needle:?} within {timeout:?}:\n{}", self.name, self.tail()?);
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until `path` exists; fails when the process exits first or
    /// `timeout` passes.
    pub fn wait_for_file(&mut self, path: &Path, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while !path.exists() {
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited ({status}) without writing {}:\n{}", self.name, path.display(), self.tail()?);
            }
            if Instant::now() >= deadline {
                bail!("{} did not write {} within {timeout:?}:\n{}", self.name, path.display(), self.tail()?);
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    /// Everything it printed so far, stdout then stderr.
    pub fn output(&self) -> anyhow::Result<String> {
        let out = std::fs::read(&self.stdout).unwrap_or_default();
        let err = std::fs::read(&self.stderr).unwrap_or_default();
        Ok(format!("{}{}", String::from_utf8_lossy(&out), String::from_utf8_lossy(&err)))
    }

    /// The last lines it printed, for error messages.
    pub fn tail(&self) -> anyhow::Result<String> {
        let all = self.output()?;
        let lines: Vec<&str> = all.lines().collect();
        Ok(lines[lines.len().saturating_sub(25)..].join("\n"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A stage that failed midway must not leave a busy-polling process behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            self.child.kill().ok();
            self.child.wait().ok();
        }
    }
}
