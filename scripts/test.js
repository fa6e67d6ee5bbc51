#!/usr/bin/env node
// npm test: the whole uvu suite twice, first as this machine allows, then
// with io_uring blocked by seccomp the way Docker blocks it (the sendmmsg
// backend must pass the same tests). Extra arguments narrow the file pattern.
'use strict';
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const pattern = process.argv[2] ?? '^\\d\\d\\..*\\.js$';
const uvu = [path.join(root, 'node_modules', 'uvu', 'bin.js'), 'test', pattern];

function buildLauncher() {
  const source = path.join(root, 'test', 'launcher', 'no-io-uring.c');
  // Not in build/: node-gyp rebuild wipes that.
  const binary = path.join(root, 'test', 'launcher', 'no-io-uring');
  if (!fs.existsSync(binary) || fs.statSync(binary).mtimeMs < fs.statSync(source).mtimeMs) {
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-o', binary, source], { stdio: 'inherit' });
  }
  return binary;
}

function pass(title, name, command, args) {
  console.log(`\n=== ${title} ===`);
  const env = { ...process.env, SENDGROUP_TEST_PASS: name };
  return spawnSync(command, args, { cwd: root, stdio: 'inherit', env }).status;
}

const normal = pass('pass 1: io_uring as this kernel allows', 'normal', process.execPath, uvu);
const blocked = pass('pass 2: io_uring blocked by seccomp (EPERM), sendmmsg backend', 'blocked', buildLauncher(), [process.execPath, ...uvu]);
process.exitCode = normal === 0 && blocked === 0 ? 0 : 1;
