// The bench's one progress line on stderr: rewritten in place on a terminal,
// one line per change otherwise.
'use strict';

const tty = process.stderr.isTTY;
let lastProgress = '';

function progress(text) {
  if (tty) {
    process.stderr.write(`\r\x1b[2K${text.slice(0, (process.stderr.columns || 120) - 1)}`);
  } else if (text !== lastProgress) {
    process.stderr.write(`${text}\n`);
  }
  lastProgress = text;
}

function clearProgress() {
  if (tty && lastProgress) process.stderr.write('\r\x1b[2K');
  lastProgress = '';
}

/** The line shown now (a run's label, for messages while it waits). */
function currentProgress() {
  return lastProgress;
}

module.exports = { progress, clearProgress, currentProgress };
