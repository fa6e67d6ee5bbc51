// Live MPEG-TS fan-out: a relay takes one UDP input stream and sends each of
// its datagrams (7 TS packets, 1,316 bytes) to every viewer. The input is
// ffmpeg's test pattern, or where ffmpeg is missing, generated TS packets.
//
//   node examples/mpegts-fanout.js [viewer ...]     (default 127.0.0.1:5004 [::1]:5004)
//   watch it with: ffplay udp://127.0.0.1:5004
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const dgram = require('node:dgram');
const { on } = require('node:events');
const { setTimeout: sleep } = require('node:timers/promises');
const { Group, Sender } = require('sendgroup');

const TS_PACKET = 188;
const viewers = new Group(process.argv.length > 2 ? process.argv.slice(2) : ['127.0.0.1:5004', '[::1]:5004']);

/** ffmpeg encodes 2 seconds of its test pattern, live, to a local port; yields its datagrams. */
async function* ffmpegInput() {
  const input = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
  await new Promise((resolve) => input.bind(0, '127.0.0.1', resolve));
  const { port } = input.address();
  const ffmpeg = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=duration=2:size=320x240:rate=25',
    '-c:v', 'mpeg2video', '-f', 'mpegts', `udp://127.0.0.1:${port}?pkt_size=${7 * TS_PACKET}`], { stdio: 'inherit' });
  // Once ffmpeg has exited, an empty datagram queued behind its last one ends the input.
  ffmpeg.on('exit', (code) => {
    if (code !== 0) process.exitCode = 1;
    input.send(Buffer.alloc(0), port, '127.0.0.1');
  });
  for await (const [datagram] of on(input, 'message')) {
    if (datagram.length === 0) break;
    yield datagram;
  }
  input.close();
}

/** 100 datagrams of 7 TS packets (PID 0x100, continuity counter counting), at about 2 Mbit/s. */
async function* generatedInput() {
  let continuity = 0;
  for (let i = 0; i < 100; i++) {
    const datagram = Buffer.alloc(7 * TS_PACKET, 0xff);
    for (let at = 0; at < datagram.length; at += TS_PACKET) {
      datagram.writeUInt32BE(0x47010010 | (continuity++ & 0xf), at); // sync byte, PID 0x100, payload only, counter
    }
    yield datagram;
    await sleep(5);
  }
}

async function main() {
  const hasFfmpeg = !spawnSync('ffmpeg', ['-version']).error;
  console.log(`source: ${hasFfmpeg ? 'ffmpeg testsrc' : 'generated TS packets (ffmpeg not found)'}`);
  const sender = new Sender();
  let datagrams = 0;
  let failed = 0;
  for await (const datagram of hasFfmpeg ? ffmpegInput() : generatedInput()) {
    const report = await sender.sendGroup(viewers, datagram);
    datagrams++;
    failed += report.failed;
    for (const { address, port, code } of report.errors) console.warn(`${address}:${port}: ${code}`);
  }
  console.log(`relayed ${datagrams} datagrams to ${viewers.size} viewers, ${failed} sends failed`);
  await sender.close();
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
