'use strict';
// The published package: what `npm pack` puts in it (what README links, no
// tests or build leftovers), and the package packed with a prebuilt addon
// (prebuildify, liburing linked in statically) installed into an empty
// project: without install scripts (so nothing can compile), loaded and used
// there, and with them, where the install script must stay quiet.
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

function run(command, args, cwd, env = {}) {
  return execFileSync(command, args, {
    cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300000, env: { ...process.env, npm_config_nodedir: nodedir, ...env },
  });
}

/** An empty project in work/name with the tarball installed (npm's output returned). */
function installInto(work, name, tarball, npmFlags) {
  const app = path.join(work, name);
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), `{ "name": "${name}", "version": "1.0.0", "private": true }\n`);
  const out = run('npm', ['install', ...npmFlags, '--prefer-offline', '--no-audit', '--no-fund', path.join(work, tarball)], app);
  return { app, out };
}

/** Relative link targets of a markdown text ([text](target), no anchors). */
function relativeLinks(markdown) {
  return [...markdown.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1].split('#')[0]).filter((target) => target && !/^[a-z]+:/i.test(target));
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
    // TMPDIR: prebuildify builds in $TMPDIR/prebuildify and leaves it there.
    run(path.join(root, 'node_modules', '.bin', 'prebuildify'), ['--napi', '--strip', '--tag-libc', '--target', `node@${process.versions.node}`], src, { TMPDIR: work });
    const prebuilds = fs.readdirSync(path.join(src, 'prebuilds', `${process.platform}-${process.arch}`));
    assert.ok(prebuilds.some((file) => file.endsWith('.node')), `prebuilds: ${prebuilds}`);
    fs.unlinkSync(path.join(src, 'node_modules'));
    const tarball = run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], src).trim().split('\n').pop();
    const packed = run('tar', ['tzf', path.join(work, tarball)], work).split('\n');
    const prebuild = new RegExp(`^package/prebuilds/${process.platform}-${process.arch}/[^/]+\\.node$`);
    assert.ok(packed.some((file) => prebuild.test(file)), `no prebuild in the tarball: ${packed.join(', ')}`);

    const { app } = installInto(work, 'app', tarball, ['--ignore-scripts']);
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

    // With install scripts: node-gyp-build finds the prebuild loads, compiles
    // nothing and says nothing (npm's own "> node-gyp-build" banner aside).
    const scripted = installInto(work, 'scripted', tarball, ['--foreground-scripts']);
    const said = scripted.out.split('\n').filter((line) => line.trim() && !line.startsWith('> ') && !/^(added|changed|up to date)\b/.test(line));
    assert.equal(said, [], `the install script printed:\n${scripted.out}`);
    assert.match(scripted.out, /^> node-gyp-build$/m, 'the install script ran');
    assert.not.ok(fs.existsSync(path.join(scripted.app, 'node_modules', 'sendgroup', 'build')), 'nothing was compiled');
  } finally {
    rx.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
});

packTest('npm pack carries the build, README\'s links, examples and LICENSE, and no tests or leftovers', () => {
  const [{ files }] = JSON.parse(run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], root));
  const packed = new Set(files.map((file) => file.path));
  for (const file of ['package.json', 'README.md', 'LICENSE', 'binding.gyp', 'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'native/addon.cc',
    'docs/api.md', ...fs.readdirSync(path.join(root, 'examples')).map((name) => `examples/${name}`)]) {
    assert.ok(packed.has(file), `${file} is not in the tarball`);
  }
  const stray = [...packed].filter((file) => /^(test|bench|build|coverage|node_modules|\.ci)\/|\.tgz$/.test(file) || (file.startsWith('scripts/') &&
    !['scripts/liburing-archive.js', 'scripts/esm-wrapper.js'].includes(file)));
  assert.equal(stray, [], 'tests, benchmarks and build output stay out');
  // tsc never deletes: a dist/ file whose lib/ source is gone is a leftover.
  const leftovers = [...packed].filter((file) => file.startsWith('dist/') && file !== 'dist/index.mjs' &&
    !packed.has(`lib/${file.slice('dist/'.length).replace(/\.(d\.ts|js\.map|js)$/, '')}.ts`));
  assert.equal(leftovers, [], 'dist/ files without a lib/ source');
  for (const doc of [...packed].filter((file) => file.endsWith('.md'))) {
    for (const target of relativeLinks(fs.readFileSync(path.join(root, doc), 'utf8'))) {
      const linked = path.posix.normalize(path.posix.join(path.posix.dirname(doc), target));
      assert.ok(packed.has(linked) || [...packed].some((file) => file.startsWith(`${linked.replace(/\/$/, '')}/`)), `${doc} links ${target}, which is not in the tarball`);
    }
  }
});

test.run();
