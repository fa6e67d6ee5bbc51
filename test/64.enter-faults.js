'use strict';
// io_uring_enter refusing a submission (EAGAIN: the kernel is short of
// memory; EBUSY: of CQ room) leaves the SQEs in the ring. The sender must try
// again by itself, also when nothing else is in flight that would wake it.
// test/launcher/enter-faults fails every third submitting call.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { probe } = require('..');
const { testUnless } = require('./_helpers');

const SOURCE = path.join(__dirname, 'launcher', 'enter-faults.c');
const LAUNCHER = path.join(__dirname, 'launcher', 'enter-faults');
const FIXTURE = path.join(__dirname, 'fixtures', 'submit-faults.js');
// Ring setup probes submit too: let the first ones through.
const SKIP = 8;

function build() {
  if (!fs.existsSync(LAUNCHER) || fs.statSync(LAUNCHER).mtimeMs < fs.statSync(SOURCE).mtimeMs) {
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-o', LAUNCHER, SOURCE], { stdio: 'inherit' });
  }
}

const skip = probe().ioUring ? undefined : `io_uring unavailable (${probe().reasons.ioUring}): no submissions to refuse`;

const faultTest = testUnless(test, skip, '64.enter-faults');

for (const errno of ['EAGAIN', 'EBUSY']) {
  faultTest(`submissions refused with ${errno} are tried again: every call settles, every byte arrives`, () => {
    build();
    const out = execFileSync(LAUNCHER, [String(SKIP), '3', errno, process.execPath, FIXTURE], { encoding: 'utf8', timeout: 60000 });
    assert.equal(JSON.parse(out.trim().split('\n').pop()), { backend: 'io_uring', sent: 600, intact: true });
  });
}

test.run();
