// Per-viewer RTP: every packet's payload (7 MPEG-TS packets) is shared, and
// each viewer gets its own 12-byte RTP header in front of it: its own SSRC,
// sequence numbers and timestamps (RFC 3550 starts each at random). All the
// headers of one packet go in one buffer, the stride form of `prefix`.
// The last viewer joins halfway and starts a sequence of its own.
//
//   node examples/rtp-headers.js [viewer ...]     (default 127.0.0.1:5004 [::1]:5004)
'use strict';
const { randomInt } = require('node:crypto');
const { Group, Sender } = require('sendgroup');

const HEADER = 12;
const PACKETS = 50;
const targets = process.argv.length > 2 ? process.argv.slice(2) : ['127.0.0.1:5004', '[::1]:5004'];
const viewers = new Group();
const streams = new Map(); // member id -> { ssrc, sequence, timestamp }

function join(target) {
  const stream = { ssrc: randomInt(2 ** 32), sequence: randomInt(2 ** 16), timestamp: randomInt(2 ** 32) };
  streams.set(viewers.add(target), stream);
  console.log(`${target} joined: ssrc 0x${stream.ssrc.toString(16)}, first sequence ${stream.sequence}`);
}

/** One RTP header per viewer, in the group's send order, each stream advanced by one packet. */
function rtpHeaders() {
  const data = Buffer.alloc(HEADER * viewers.size);
  let at = 0;
  for (const { id } of viewers) {
    const stream = streams.get(id);
    data[at] = 0x80;                                // version 2
    data[at + 1] = 33;                              // payload type 33: MPEG-TS
    data.writeUInt16BE(stream.sequence, at + 2);
    data.writeUInt32BE(stream.timestamp, at + 4);
    data.writeUInt32BE(stream.ssrc, at + 8);
    stream.sequence = (stream.sequence + 1) & 0xffff;
    stream.timestamp = (stream.timestamp + 3600) >>> 0; // 90 kHz clock, 25 packets a second
    at += HEADER;
  }
  return { data, stride: HEADER };
}

async function main() {
  targets.slice(0, -1).forEach(join);
  const sender = new Sender();
  for (let packet = 0; packet < PACKETS; packet++) {
    if (packet === PACKETS / 2) join(targets.at(-1));
    const payload = Buffer.alloc(7 * 188, packet); // stand-in for 7 TS packets
    for (let at = 0; at < payload.length; at += 188) payload[at] = 0x47;
    const report = await sender.sendGroup(viewers, payload, { prefix: rtpHeaders() });
    for (const { address, port, code } of report.errors) console.warn(`packet ${packet} to ${address}:${port}: ${code}`);
  }
  console.log(`sent ${PACKETS} packets`);
  await sender.close();
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
