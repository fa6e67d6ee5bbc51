// One frozen copy of the library for a whole bench run: dist/, the built
// addon and package.json, copied to bench/.snapshot/<pid>/ (inside the repo
// so that its own dependencies still resolve from node_modules). A rebuild of
// the working tree while the bench runs then cannot mix two builds in one
// table, nor make a run fail because the addon is missing for a moment.
'use strict';
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const BASE = path.join(__dirname, '..', '.snapshot');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function copyTree(from, to) {
  fs.cpSync(from, to, { recursive: true, dereference: true });
}

function addonFile(dir) {
  const release = path.join(dir, 'build', 'Release', 'sendgroup.node');
  if (fs.existsSync(release)) return release;
  const pre = path.join(dir, 'prebuilds', `${process.platform}-${process.arch}`);
  if (fs.existsSync(pre)) {
    const file = fs.readdirSync(pre).find((f) => f.endsWith('.node'));
    if (file) return path.join(pre, file);
  }
  return '';
}

function tryOnce(dest) {
  fs.rmSync(dest, { recursive: true, force: true });
  fs.mkdirSync(dest, { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dest, 'package.json'));
  copyTree(path.join(ROOT, 'dist'), path.join(dest, 'dist'));
  const release = path.join(ROOT, 'build', 'Release', 'sendgroup.node');
  if (fs.existsSync(release)) {
    fs.mkdirSync(path.join(dest, 'build', 'Release'), { recursive: true });
    fs.copyFileSync(release, path.join(dest, 'build', 'Release', 'sendgroup.node'));
  } else if (fs.existsSync(path.join(ROOT, 'prebuilds'))) {
    copyTree(path.join(ROOT, 'prebuilds'), path.join(dest, 'prebuilds'));
  }
  // Load it in a fresh process: a half-written file fails here, not mid-run.
  const probe = execFileSync(process.execPath, ['-e',
    `const l = require(${JSON.stringify(dest)}); process.stdout.write(JSON.stringify({ probe: l.probe(), auto: l.AUTO_ZERO_COPY_MIN_BYTES }))`],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const file = addonFile(dest);
  const sha256 = file ? crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex').slice(0, 16) : '';
  const srcFile = addonFile(ROOT);
  const builtAt = srcFile ? fs.statSync(srcFile).mtime.toISOString() : '';
  return { dir: dest, addon: path.relative(dest, file), addonSha256: sha256, addonBuiltAt: builtAt, ...JSON.parse(probe) };
}

/** Copies the library and checks that the copy loads; retries while it is being rebuilt. */
async function snapshotLibrary({ attempts = 8, waitMs = 15000, log = () => {} } = {}) {
  const dest = path.join(BASE, String(process.pid));
  for (let attempt = 1; ; attempt++) {
    try {
      return tryOnce(dest);
    } catch (error) {
      if (attempt >= attempts) {
        fs.rmSync(dest, { recursive: true, force: true });
        throw new Error(`sendgroup does not load (build it: npm run build): ${String(error.stderr || error.message).trim().split('\n')[0]}`);
      }
      log(`sendgroup not loadable yet (being rebuilt?): retrying in ${waitMs / 1000} s`);
      await sleep(waitMs);
    }
  }
}

function removeSnapshot(info) {
  if (info?.dir) fs.rmSync(info.dir, { recursive: true, force: true });
  try {
    // Snapshots of earlier runs that were killed.
    for (const name of fs.readdirSync(BASE)) {
      const pid = Number(name);
      let alive = false;
      try {
        process.kill(pid, 0);
        alive = true;
      } catch (error) {
        alive = error.code === 'EPERM';
      }
      if (!alive) fs.rmSync(path.join(BASE, name), { recursive: true, force: true });
    }
    if (!fs.readdirSync(BASE).length) fs.rmdirSync(BASE);
  } catch { /* nothing there */ }
}

module.exports = { snapshotLibrary, removeSnapshot };
