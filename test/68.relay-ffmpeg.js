'use strict';
// A real MPEG-TS stream through the relay to real players: ffmpeg encodes 3
// s of its test pattern (25 fps, MPEG-2 video) into MPEG-TS and sends it,
// 7 TS packets per datagram, to the relay; the relay forwards it to 3
// ffmpeg receivers, each decoding to the null muxer, and to one dgram
// receiver that checks the datagrams themselves. Every ffmpeg receiver must
// decode all 75 frames with no error or warning from the demuxer or the
// decoder; the dgram receiver must get every datagram the relay forwarded,
// each whole TS packets. The receivers end 4 s after the stream does (their
// read timeout); nothing is asserted about time. Skipped, loudly, without ffmpeg.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawn, spawnSync } = require('node:child_process');
const dgram = require('node:dgram');
const { Group, Relay } = require('..');
const { openReceivers, testUnless } = require('./_helpers');
const { udpSockets } = require('./_proc');

const FRAMES = 75; // -t 3 at 25 fps
const PLAYERS = 3;
const TS_PACKET = 188;
const DATAGRAM = 7 * TS_PACKET;
const KILL_MS = 60000;
const DEADLINE_MS = 30000;
const hasFfmpeg = !spawnSync('ffmpeg', ['-version']).error;
const children = new Set();

test.after(() => {
  for (const child of children) child.kill('SIGKILL');
});

/** Runs ffmpeg with args; resolves with { code, signal, stdout, stderr }. */
function ffmpeg(args) {
  const child = spawn('ffmpeg', ['-hide_banner', '-nostdin', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => { stdout += chunk; });
  child.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk; });
  const killer = setTimeout(() => child.kill('SIGKILL'), KILL_MS);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

async function until(condition, what) {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > DEADLINE_MS) assert.unreachable(`waited ${DEADLINE_MS} ms: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A port free on 127.0.0.1 just now. */
async function freePort() {
  const socket = dgram.createSocket('udp4');
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise((resolve) => socket.close(resolve));
  return port;
}

/**
 * Lines an ffmpeg receiver logged at warning level or above ('[error] ...',
 * '[mpegts @ 0x...] [warning] Packet corrupt ...'), except the one that ends
 * it: its read timeout, reported as an I/O error of the udp input.
 */
function complaints(stderr, url) {
  return stderr.split('\n').filter((line) => /(^|\] )\[(warning|error|fatal|panic)\] /.test(line))
    .filter((line) => !(line.includes(url) && /Input\/output error/.test(line)));
}

testUnless(test, !hasFfmpeg && 'ffmpeg is not installed (CI installs it)', '68.relay-ffmpeg')('ffmpeg MPEG-TS -> relay -> 3 ffmpeg receivers: every frame decoded, no decode error; every datagram whole TS packets', async () => {
  const ports = [];
  for (let i = 0; i < PLAYERS; i++) ports.push(await freePort());
  const rx = await openReceivers(1);
  const group = new Group([...ports.map((port) => `127.0.0.1:${port}`), rx.targets[0]]);
  const relay = new Relay({ listen: '127.0.0.1:0', allow: ['127.0.0.1'], group });
  try {
    const urls = ports.map((port) => `udp://127.0.0.1:${port}?timeout=4000000`);
    const players = urls.map((url) => ffmpeg(['-loglevel', 'level+warning', '-nostats', '-i', url, '-f', 'null', '-progress', 'pipe:1', '-']));
    // Each player is listening once its port is bound.
    await until(() => ports.every((port) => udpSockets().some((s) => s.port === port)), () => 'ffmpeg receivers bound');
    const source = await ffmpeg(['-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-t', '3',
      '-c:v', 'mpeg2video', '-f', 'mpegts', `udp://127.0.0.1:${relay.address().port}?pkt_size=${DATAGRAM}`]);
    assert.is(source.code, 0, `ffmpeg source: ${source.stderr}`);
    const { port } = relay.address();
    await until(() => udpSockets().filter((s) => s.port === port).every((s) => s.rx === 0)
      && relay.stats().received > 0 && rx.total === relay.stats().forwarded
      && relay.stats().sends === relay.stats().forwarded * (PLAYERS + 1), () => `${rx.total} datagrams: ${JSON.stringify(relay.stats())}`);
    const stats = relay.stats();
    assert.equal(stats.dropped, { notAllowed: 0, noBuffer: 0, truncated: 0, noMembers: 0, looped: 0 });
    assert.equal(stats.failures, {});
    assert.is(stats.forwarded, stats.received);
    assert.is(stats.sends, stats.forwarded * (PLAYERS + 1));
    for (const datagram of rx.messages[0]) {
      assert.is(datagram.length % TS_PACKET, 0, 'whole TS packets');
      for (let at = 0; at < datagram.length; at += TS_PACKET) assert.is(datagram[at], 0x47, 'TS sync byte');
    }
    const results = await Promise.all(players);
    results.forEach((result, i) => {
      const where = `ffmpeg receiver ${i} (${urls[i]})`;
      assert.is(result.signal, null, `${where} was killed: ${result.stderr}`);
      assert.equal(complaints(result.stderr, urls[i]), [], `${where} complained`);
      const frames = [...result.stdout.matchAll(/^frame=(\d+)$/gm)].map((m) => Number(m[1]));
      assert.ok(frames.length, `${where} reported no progress: ${result.stdout}`);
      assert.is(frames[frames.length - 1], FRAMES, `${where}: frames decoded`);
      assert.match(result.stdout, /^progress=end$/m, where);
    });
  } finally {
    await relay.close();
    rx.close();
  }
});

test.run();
