'use strict';
// The published package: packed with a prebuilt addon (prebuildify, liburing
// linked in statically), installed into an empty project without running
// any install script (so nothing can compile), loaded and used there.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { openReceivers, testUnless } = require('./_helpers');

const root = path.join(__dirname, '..');
const blocked = process.env.SENDGROUP_TEST_PASS === 'blocked';

// Build against this Node's own headers (no download: the machine is offline).
const nodedir = process.env.npm_config_nodedir || path.join(path.dirname(process.execPath), '..');

function run(command, args, cwd) {
  return execFileSync(command, args, {
    cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300000, env: { ...process.env, npm_config_nodedir: nodedir },
  });
}

const packTest = testUnless(test, blocked && 'the io_uring-blocked pass: packaging does not depend on the backend', '80.package');

packTest('npm pack with a prebuild installs with --ignore-scripts and sends', async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sendgroup-pack-'));
  const rx = await openReceivers(2);
  try {
    // A copy of exactly what npm would publish, to build the prebuild in
    // without touching this checkout's build/.
    const source = run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], root).trim().split('\n').pop();
    const src = path.join(work, 'src');
    fs.mkdirSync(src);
    run('tar', ['xzf', path.join(work, source), '-C', src, '--strip-components=1'], work);
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(src, 'node_modules'));
    run(path.join(root, 'node_modules', '.bin', 'prebuildify'), ['--napi', '--strip', '--tag-libc', '--target', `node@${process.versions.node}`], src);
    const prebuilds = fs.readdirSync(path.join(src, 'prebuilds', `${process.platform}-${process.arch}`));
    assert.ok(prebuilds.some((file) => file.endsWith('.node')), `prebuilds: ${prebuilds}`);
    fs.unlinkSync(path.join(src, 'node_modules'));
    const tarball = run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], src).trim().split('\n').pop();

    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), '{ "name": "app", "version": "1.0.0", "private": true }\n');
    run('npm', ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', path.join(work, tarball)], app);
    assert.not.ok(fs.existsSync(path.join(app, 'node_modules', 'sendgroup', 'build')), 'nothing was compiled');

    const script = `
      const { Sender } = require('sendgroup');
      const sender = new Sender();
      sender.sendGroup(${JSON.stringify(rx.targets)}, 'from the tarball')
        .then((report) => { console.log(JSON.stringify({ sent: report.sent, backend: sender.backend })); return sender.close(); });`;
    const out = JSON.parse(run(process.execPath, ['-e', script], app).trim());
    await rx.waitFor(2);
    assert.is(out.sent, 2);
    for (const list of rx.messages) assert.equal(list.map(String), ['from the tarball']);

    // With the prebuild gone, the loader names every place it looked and what to install.
    fs.rmSync(path.join(app, 'node_modules', 'sendgroup', 'prebuilds'), { recursive: true });
    let message = '';
    try {
      run(process.execPath, ['-e', 'require("sendgroup")'], app);
    } catch (error) {
      message = error.stderr;
    }
    assert.match(message, /build\/Release\/sendgroup\.node/);
    assert.match(message, /prebuilds\/linux-/);
    assert.match(message, /liburing-dev/);
  } finally {
    rx.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test.run();
