'use strict';
// io_uring_enter refusing a submission (EAGAIN: the kernel is short of
// memory; EBUSY: of CQ room) leaves the SQEs in the ring. The sender must try
// again by itself, also when nothing else is in flight that would wake it.
// test/launcher/enter-faults fails every third submitting call.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { probe } = require('..');
const { launcher, testUnless } = require('./_helpers');

const FIXTURE = path.join(__dirname, 'fixtures', 'submit-faults.js');
// Ring setup probes submit too: let the first ones through.
const SKIP = 8;


const skip = probe().ioUring ? undefined : `io_uring unavailable (${probe().reasons.ioUring}): no submissions to refuse`;

const faultTest = testUnless(test, skip, '64.enter-faults');

for (const errno of ['EAGAIN', 'EBUSY']) {
  faultTest(`submissions refused with ${errno} are tried again: every call settles, every byte arrives`, () => {
    const out = execFileSync(launcher('enter-faults'), [String(SKIP), '3', errno, process.execPath, FIXTURE], { encoding: 'utf8', timeout: 60000 });
    assert.equal(JSON.parse(out.trim().split('\n').pop()), { backend: 'io_uring', sent: 600, intact: true });
  });
}

test.run();
