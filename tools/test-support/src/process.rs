//! Processes that tests spawn and read line by line.

use std::io::{BufRead, BufReader};
use std::process::ChildStdout;
use std::sync::mpsc;

/// The lines a child prints, as they come, read by a thread of their own
/// so that a test can wait for one with a timeout.
pub fn stdout_lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}
