#!/usr/bin/env node
// The demo: one sendGroup() fans a 1,316-byte MPEG-TS-sized payload out to
// 300 local receivers, each with its own 12-byte RTP-style header as prefix,
// then checks what every receiver got and prints the report.
'use strict';
const dgram = require('node:dgram');
const { Group, Sender, probe } = require('..');

const RECEIVERS = 300;
const HEADER_BYTES = 12;

function rtpHeader(buffer, at, sequence, ssrc) {
  buffer[at] = 0x80;                        // version 2
  buffer[at + 1] = 33;                      // payload type 33: MPEG-TS
  buffer.writeUInt16BE(sequence, at + 2);
  buffer.writeUInt32BE(90000, at + 4);      // timestamp
  buffer.writeUInt32BE(ssrc, at + 8);       // one stream id per viewer
}

async function openReceivers() {
  const receivers = [];
  for (let i = 0; i < RECEIVERS; i++) {
    const socket = dgram.createSocket('udp4');
    await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
    receivers.push({ socket, got: [] });
    socket.on('message', (message) => receivers[i].got.push(message));
  }
  return receivers;
}

async function main() {
  const features = probe();
  console.log(`kernel: io_uring ${features.ioUring}, SEND_ZC ${features.sendZc}, fixed buffers ${features.fixedBuffers}, GSO ${features.gso}`);
  const receivers = await openReceivers();
  const group = new Group(receivers.map(({ socket }) => `127.0.0.1:${socket.address().port}`));

  const payload = Buffer.alloc(1316);
  for (let i = 0; i < payload.length; i += 188) payload[i] = 0x47; // TS sync bytes
  const headers = Buffer.alloc(RECEIVERS * HEADER_BYTES);
  for (let i = 0; i < RECEIVERS; i++) rtpHeader(headers, i * HEADER_BYTES, 1, 0x5000 + i);

  const sender = new Sender();
  const started = process.hrtime.bigint();
  const report = await sender.sendGroup(group, payload, { prefix: { data: headers, stride: HEADER_BYTES } });
  const micros = Number(process.hrtime.bigint() - started) / 1000;

  // Loopback delivers in the same kernel call, but 'message' events need the
  // loop; give up after 5 s so a lost datagram shows instead of hanging.
  const deadline = Date.now() + 5000;
  while (receivers.reduce((n, r) => n + r.got.length, 0) < report.sent && Date.now() < deadline) {
    await new Promise((resolve) => setImmediate(resolve));
  }

  let intact = 0;
  receivers.forEach(({ got }, i) => {
    const expected = Buffer.concat([headers.subarray(i * HEADER_BYTES, (i + 1) * HEADER_BYTES), payload]);
    if (got.length === 1 && got[0].equals(expected)) intact++;
  });
  for (const i of [0, 1, RECEIVERS - 1]) {
    const datagram = receivers[i].got[0];
    console.log(`receiver ${String(i).padStart(3)} (port ${receivers[i].socket.address().port}): ${datagram.length} bytes, ` +
      `ssrc 0x${datagram.readUInt32BE(8).toString(16)}, first TS sync byte 0x${datagram[HEADER_BYTES].toString(16)}`);
  }
  console.log(`${intact} of ${RECEIVERS} receivers got exactly their header + the shared payload`);
  console.log('report:', { ...report, errors: report.errors.length ? report.errors : '(none)' });
  console.log(`one sendGroup() call for ${RECEIVERS} recipients took ${micros.toFixed(0)} us of wall time`);

  await sender.close();
  receivers.forEach(({ socket }) => socket.close());
  if (intact !== RECEIVERS) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
