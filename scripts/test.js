#!/usr/bin/env node
// npm test: the whole uvu suite four times: as this machine allows, then
// with io_uring blocked by seccomp the way Docker blocks it (the sendmmsg
// backend must pass the same tests), each sending inline and on two native
// threads (SENDGROUP_THREADS=2: every Sender the tests make gets threads: 2;
// SENDGROUP_INLINE_BELOW=0: every call goes to the threads, however small,
// so the suite's small groups test the threads too; which calls go inline by
// default is tested where a test asks for it).
// Extra arguments narrow the file pattern; SENDGROUP_TEST_PASSES=1,3 runs
// only those passes.
'use strict';
const { spawnSync } = require('node:child_process');
const { launcher } = require('../test/_helpers');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const pattern = process.argv[2] ?? '^\\d\\d\\..*\\.js$';
const uvu = [path.join(root, 'node_modules', 'uvu', 'bin.js'), 'test', pattern];

function pass(title, name, command, args, extraEnv) {
  console.log(`\n=== ${title} ===`);
  const env = { ...process.env, SENDGROUP_TEST_PASS: name, ...extraEnv };
  return spawnSync(command, args, { cwd: root, stdio: 'inherit', env }).status;
}

const deny = launcher('deny');
const PASSES = [
  ['io_uring as this kernel allows', 'normal', process.execPath, uvu, { SENDGROUP_THREADS: '0' }],
  ['io_uring blocked by seccomp (EPERM), sendmmsg backend', 'blocked', deny, ['io_uring', process.execPath, ...uvu], { SENDGROUP_THREADS: '0' }],
  ['io_uring, threads: 2', 'normal', process.execPath, uvu, { SENDGROUP_THREADS: '2', SENDGROUP_INLINE_BELOW: '0' }],
  ['sendmmsg, threads: 2', 'blocked', deny, ['io_uring', process.execPath, ...uvu], { SENDGROUP_THREADS: '2', SENDGROUP_INLINE_BELOW: '0' }],
];
const chosen = (process.env.SENDGROUP_TEST_PASSES ?? '1,2,3,4').split(',').map(Number);
let failed = false;
for (const [i, [title, name, command, args, env]] of PASSES.entries()) {
  if (chosen.includes(i + 1) && pass(`pass ${i + 1}: ${title}`, name, command, args, env) !== 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
