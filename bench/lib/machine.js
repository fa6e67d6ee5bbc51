// What results.machine records: the hardware, kernel, Node, liburing, and
// the commit and uncommitted library changes the run measured.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');

/** A command's trimmed output, or '' when it fails. */
function output(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

function machine() {
  const cpus = os.cpus();
  const liburing = output('dpkg-query', ['-W', '-f', '${Version}', 'liburing-dev']);
  const commit = output('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']).trim();
  const dirty = output('git', ['-C', ROOT, 'status', '--porcelain', '--', 'lib', 'native', 'binding.gyp'])
    .trimEnd().split('\n').filter(Boolean).map((l) => l.slice(3)).join(' ');
  let addonMtime = '';
  try {
    addonMtime = fs.statSync(path.join(ROOT, 'build', 'Release', 'sendgroup.node')).mtime.toISOString();
  } catch { /* not built */ }
  return { cpu: cpus[0]?.model.trim(), cores: cpus.length, memoryGb: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(),
    node: process.versions.node, liburing, commit,
    uncommittedLibraryChanges: dirty, addonMtime };
}

module.exports = { machine };
