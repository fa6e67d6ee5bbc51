#!/usr/bin/env node
// Prints the path of the static liburing archive for binding.gyp, or explains
// what to install. Static linking keeps the addon free of a runtime
// dependency on a shared liburing.
'use strict';
const { execFileSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');

function candidates() {
  const dirs = [];
  try {
    dirs.push(execFileSync('pkg-config', ['--variable=libdir', 'liburing'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch { /* pkg-config missing or no liburing.pc: try the usual places */ }
  dirs.push('/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib');
  return dirs.filter(Boolean).map((dir) => path.join(dir, 'liburing.a'));
}

const tried = candidates();
const found = tried.find((file) => existsSync(file));
if (!found) {
  process.stderr.write(`sendgroup: liburing.a not found (tried ${tried.join(', ')}).\n` +
    'Install liburing\'s development files, e.g. `apt-get install -y liburing-dev`.\n');
  process.exit(1);
}
process.stdout.write(found);
