'use strict';
// examples/ as a user runs them: each file is spawned with node, requires
// 'sendgroup' by name (the package resolves itself through its "exports"),
// must exit 0 by itself, and where it sends to receivers given on its
// command line, those receivers must have got exactly the right bytes.
// And README's `npm run demo`, which checks its own receivers.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { execFile, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { openReceivers, testUnless } = require('./_helpers');

const examples = path.join(__dirname, '..', 'examples');
const hasFfmpeg = !spawnSync('ffmpeg', ['-version']).error;
const TS_PACKET = 188;

/** Runs an example to its end (a hang fails after 60 s); resolves with its output. */
function run(file, args = [], env = process.env) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.resolve(examples, file), ...args], { env, timeout: 60000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} failed (${error.signal || `exit code ${error.code}`}):\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

/** v4 receivers on 127.0.0.1 and one on ::1 (the last target). */
async function receivers(v4) {
  const all = [await openReceivers(v4), await openReceivers(1, '::1')];
  return {
    targets: all.flatMap((rx) => rx.targets),
    messages: all.flatMap((rx) => rx.messages),
    /** Each IPv4 receiver `count` datagrams, the IPv6 one `last`. */
    waitFor: (count, last = count) => Promise.all([all[0].waitFor(count * v4), all[1].waitFor(last)]),
    close: () => all.forEach((rx) => rx.close()),
  };
}

/** Every viewer got the same datagrams, `count` of them, each whole TS packets. */
function assertTransportStream(rx, count) {
  for (const got of rx.messages) {
    assert.is(got.length, count);
    assert.ok(got.every((datagram, i) => datagram.equals(rx.messages[0][i])), 'every viewer got the same datagrams');
  }
  for (const datagram of rx.messages[0]) {
    assert.is(datagram.length % TS_PACKET, 0);
    for (let at = 0; at < datagram.length; at += TS_PACKET) assert.is(datagram[at], 0x47);
  }
}

testUnless(test, !hasFfmpeg && 'ffmpeg is not installed', '90.examples ffmpeg')('mpegts-fanout.js relays ffmpeg\'s stream to every viewer', async () => {
  const rx = await receivers(2);
  try {
    const out = await run('mpegts-fanout.js', rx.targets);
    assert.match(out, /^source: ffmpeg testsrc$/m);
    const count = Number(/^relayed (\d+) datagrams to 3 viewers, 0 sends failed$/m.exec(out)?.[1]);
    assert.ok(count > 10, out);
    await rx.waitFor(count);
    assertTransportStream(rx, count);
  } finally {
    rx.close();
  }
});

test('mpegts-fanout.js without ffmpeg relays generated TS packets, continuity counters unbroken', async () => {
  const rx = await receivers(2);
  const noFfmpeg = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-path-'));
  try {
    const out = await run('mpegts-fanout.js', rx.targets, { ...process.env, PATH: noFfmpeg });
    assert.match(out, /^source: generated TS packets \(ffmpeg not found\)$/m);
    assert.match(out, /^relayed 100 datagrams to 3 viewers, 0 sends failed$/m);
    await rx.waitFor(100);
    assertTransportStream(rx, 100);
    const counters = rx.messages[0].flatMap((datagram) => Array.from({ length: 7 }, (_, i) => datagram.readUInt32BE(i * TS_PACKET)));
    assert.ok(counters.every((header, i) => header === (0x47010010 | (i & 0xf))), 'PID 0x100, counters 0, 1, 2, ...');
  } finally {
    rx.close();
    fs.rmSync(noFfmpeg, { recursive: true, force: true });
  }
});

test('rtp-headers.js: each viewer its own SSRC and unbroken sequence, the last from halfway', async () => {
  const rx = await receivers(2);
  try {
    const out = await run('rtp-headers.js', rx.targets);
    assert.match(out, /^sent 50 packets$/m);
    await rx.waitFor(50, 25);
    const ssrcs = new Set();
    rx.targets.forEach((target, v) => {
      const got = rx.messages[v];
      const firstPacket = v === rx.targets.length - 1 ? 25 : 0;
      assert.is(got.length, 50 - firstPacket, target);
      const joined = out.split('\n').find((line) => line.startsWith(`${target} joined: `));
      const [, ssrc, sequence] = /ssrc 0x([0-9a-f]+), first sequence (\d+)$/.exec(joined);
      ssrcs.add(ssrc);
      got.forEach((datagram, i) => {
        assert.is(datagram.length, 12 + 7 * TS_PACKET);
        assert.is(datagram.readUInt16BE(0), 0x8021, 'RTP version 2, payload type 33');
        assert.is(datagram.readUInt16BE(2), (Number(sequence) + i) & 0xffff, `${target} packet ${i}`);
        assert.is(datagram.readUInt32BE(4), (got[0].readUInt32BE(4) + 3600 * i) >>> 0);
        assert.is(datagram.readUInt32BE(8).toString(16), ssrc);
        const payload = Buffer.alloc(7 * TS_PACKET, firstPacket + i);
        for (let at = 0; at < payload.length; at += TS_PACKET) payload[at] = 0x47;
        assert.ok(datagram.subarray(12).equals(payload), `${target} packet ${i}: the shared payload`);
      });
    });
    assert.is(ssrcs.size, rx.targets.length, 'one SSRC per viewer');
  } finally {
    rx.close();
  }
});

test('game-state.js: players join and leave, the vanished are dropped on ICMP port unreachable', async () => {
  const out = await run('game-state.js');
  const lines = out.trim().split('\n');
  const at = (line) => {
    const index = lines.findIndex((l) => (line instanceof RegExp ? line.test(l) : l === line));
    assert.ok(index >= 0, `no line ${line} in:\n${out}`);
    return index;
  };
  for (const name of ['alice', 'bob', 'carol']) at(`${name} joined`);
  for (const [name, ticks] of [['alice', 30], ['bob', 20], ['carol', 40]]) {
    const [, first, last] = /got ticks (\d+) to (\d+)$/.exec(lines[at(new RegExp(`^${name} got ticks`))]);
    assert.is(Number(last) - Number(first) + 1, ticks, name);
  }
  assert.ok(at(/^bob got ticks/) < at('bob dropped (ECONNREFUSED)'));
  assert.ok(at(/^alice got ticks/) < at('alice left'));
  assert.ok(at(/^carol got ticks/) < at('carol dropped (ECONNREFUSED)'));
  assert.ok(at('carol dropped (ECONNREFUSED)') < at(/^game over after \d+ ticks$/));
});

test('market-data.mjs (ESM): every subscriber gets every quote, in order', async () => {
  const rx = await receivers(40);
  try {
    const out = await run('market-data.mjs', rx.targets);
    assert.match(out, /^300 quotes to 41 subscribers: 12300 datagrams sent, 0 failed$/m);
    await rx.waitFor(300);
    const symbols = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOG'];
    for (const got of rx.messages) {
      assert.is(got.length, 300);
      got.forEach((quote, i) => {
        assert.is(quote.length, 32);
        assert.is(quote.readBigUInt64BE(0), BigInt(i + 1));
        assert.is(quote.toString('latin1', 8, 12), symbols[(i + 1) % 5]);
      });
    }
  } finally {
    rx.close();
  }
});

test('npm run demo: 300 receivers each get their own header and the shared payload', async () => {
  const out = await run(path.join(__dirname, '..', 'scripts', 'demo.js'));
  assert.match(out, /^300 of 300 receivers got exactly their header \+ the shared payload$/m);
});

test.run();
