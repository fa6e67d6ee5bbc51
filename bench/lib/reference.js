// Builds the C reference (bench/reference/sgref.c) with gcc against the
// static liburing, once per source change.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const SOURCE = path.join(__dirname, '..', 'reference', 'sgref.c');
const BUILD_DIR = path.join(__dirname, '..', 'reference', 'build');
const BINARY = path.join(BUILD_DIR, 'sgref');

function liburingArchive() {
  const candidates = [];
  try {
    candidates.push(path.join(execFileSync('pkg-config', ['--variable=libdir', 'liburing'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(), 'liburing.a'));
  } catch { /* no pkg-config entry: try the usual places */ }
  candidates.push('/usr/lib/x86_64-linux-gnu/liburing.a', '/usr/lib/aarch64-linux-gnu/liburing.a', '/usr/lib64/liburing.a',
    '/usr/lib/liburing.a', '/usr/local/lib/liburing.a');
  const found = candidates.find((file) => fs.existsSync(file));
  if (!found) throw new Error(`liburing.a not found (tried ${candidates.join(', ')}); apt-get install liburing-dev`);
  return found;
}

/** Path of the built sgref binary; compiles it when missing or older than its source. */
function buildReference({ quiet = false } = {}) {
  const fresh = fs.existsSync(BINARY) && fs.statSync(BINARY).mtimeMs >= fs.statSync(SOURCE).mtimeMs;
  if (fresh) return BINARY;
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const args = ['-O2', '-pthread', '-Wall', '-Wextra', '-o', BINARY, SOURCE, liburingArchive()];
  if (!quiet) process.stderr.write(`building C reference: gcc ${args.join(' ')}\n`);
  execFileSync('gcc', args, { stdio: ['ignore', 'inherit', 'inherit'] });
  return BINARY;
}

module.exports = { buildReference, BINARY };
