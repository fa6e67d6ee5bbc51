'use strict';
// GC pressure on the copy-once and zero-copy paths, and worker threads
// terminated with sends in flight. The GC parts run in a child started with
// --expose-gc (fixtures/gc-pressure.js): payloads, per-recipient buffers,
// groups, signals and some Senders are created and dropped at once, garbage
// is allocated and gc() forced between submission and completion, and every
// receiver must still get the exact bytes. As root, the same runs again in a
// private network namespace whose loopback has a slow tbf qdisc, so the
// kernel really still holds the sends (and their zero-copy pages) while the
// collector runs and while workers are torn down.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { Group, Sender } = require('..');
const { openReceivers, privateNetwork, testUnless } = require('./_helpers');

const FIXTURE = path.join(__dirname, 'fixtures', 'gc-pressure.js');
const slowLoopback = privateNetwork('ip link set lo up && tc qdisc add dev lo root tbf rate 50mbit burst 70000 limit 10000000',
  { nodeArgs: ['--expose-gc'], timeout: 120000 });
const missing = slowLoopback.missing;

function runChild(args, { netns = false } = {}) {
  if (netns) return slowLoopback.run(FIXTURE, args);
  const out = execFileSync(process.execPath, ['--expose-gc', FIXTURE, ...args], { encoding: 'utf8', timeout: 120000 });
  return JSON.parse(out.trim().split('\n').pop());
}

function checkPressure(result) {
  assert.is(result.error, undefined, result.error);
  assert.is(result.reports, result.calls, 'every call settled');
  assert.is(result.failed, 0, `members failed: ${JSON.stringify(result.errors)}`);
  assert.is(result.mismatches, 0, result.notes && result.notes.join('; '));
  assert.ok(result.gcWhilePending > 0, 'gc() ran while calls were pending');
  assert.ok(result.droppedSenders > 0 && result.heapCopies > 0 && result.streams > 0);
}

test('payloads and per-recipient buffers dropped at once, gc() forced before completion: exact bytes arrive', () => {
  const result = runChild(['pressure', '600']);
  checkPressure(result);
  assert.is(result.datagrams, 600 * result.members);
});

const netTest = testUnless(test, missing, '75.gc namespace runs');

netTest('the same with the kernel holding the sends (slow loopback in a private namespace)', () => {
  const result = runChild(['pressure', '150'], { netns: true });
  checkPressure(result);
  assert.ok(result.stillInKernel > 0, 'some calls were still in the kernel when gc() ran');
});

netTest('workers terminated with zero-copy sends in flight (slow loopback): no crash, main-thread sends intact', () => {
  const result = runChild(['worker'], { netns: true });
  assert.is(result.error, undefined, result.error);
  assert.is(result.terminated, 4);
  assert.is(result.mismatches, 0, result.notes && result.notes.join('; '));
});

test('a worker terminated while its zero-copy sends are in flight: no crash, this thread still sends', async () => {
  const rx = await openReceivers(3);
  try {
    for (let round = 0; round < 3; round++) {
      const worker = new Worker(FIXTURE, { workerData: { targets: rx.targets } });
      await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      await worker.terminate();
    }
    const sender = new Sender({ zeroCopy: true });
    const port = sender.address().port;
    const payload = Buffer.alloc(9000, 0x42);
    const mine = rx.sockets.map(() => []);
    rx.sockets.forEach((socket, i) => socket.on('message', (message, rinfo) => { if (rinfo.port === port) mine[i].push(message); }));
    const prefix = rx.targets.map((_, i) => Buffer.from(`after-${i}:`));
    const report = await sender.sendGroup(new Group(rx.targets), payload, { prefix });
    assert.is(report.sent, 3, JSON.stringify(report.errors));
    await sender.close();
    // The workers' datagrams arrive too (from their ports); wait for ours.
    const deadline = Date.now() + 20000;
    while (mine.some((list) => list.length === 0) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    mine.forEach((list, i) => {
      assert.is(list.length, 1, `receiver ${i}`);
      assert.ok(list[0].equals(Buffer.concat([prefix[i], payload])), `receiver ${i} got the exact bytes`);
    });
  } finally {
    rx.close();
  }
});

test.run();
