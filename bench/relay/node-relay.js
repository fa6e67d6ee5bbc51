// One Node.js relay of bench/relay.js, run in its own process:
//
//   node node-relay.js VARIANT PORT MEMBERS_FILE
//
// relay-native        sendgroup's Relay, io_uring backend (no JavaScript per datagram)
// relay-native-mmsg   the same with backend: 'sendmmsg'
// relay-native-threads the io_uring Relay with threads: 2 (inlineBelow at its default)
// relay-js-sendgroup  dgram 'message' -> sender.sendGroup(group, msg), from the receiving socket
// relay-dgram         dgram 'message' -> socket.send(msg, port, address) per member
//
// Each receives on 0.0.0.0:PORT, forwards only what comes from 127.0.0.1
// and prints {"ready":true} once bound; on SIGUSR2 one JSON line of its
// counters and its CPU time (process.cpuUsage: getrusage of the whole
// process, every thread); SIGTERM ends it.
'use strict';
const dgram = require('node:dgram');
const fs = require('node:fs');
const { Group, Relay, Sender } = require('../..');

const SOURCE = '127.0.0.1';

function readMembers(file) {
  return fs.readFileSync(file, 'utf8').trim().split('\n').map((line) => {
    const [address, port] = line.split(' ');
    return { address, port: Number(port) };
  });
}

/** Counts a datagram as received, and as forwarded or not allowed (only SOURCE's are forwarded). */
function accepted(c, from) {
  c.received++;
  if (from.address !== SOURCE) {
    c.notAllowed++;
    return false;
  }
  c.forwarded++;
  return true;
}

function bindSocket(port) {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, '0.0.0.0', () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

function nativeRelay(backend, threads = 0) {
  return async (port, members) => {
    const relay = new Relay({ listen: `0.0.0.0:${port}`, allow: [SOURCE], group: new Group(members), backend, threads });
    return () => {
      const s = relay.stats();
      const failed = Object.values(s.failures).reduce((a, b) => a + b, 0);
      return { received: s.received, forwarded: s.forwarded, sends: s.sends, failed, notAllowed: s.dropped.notAllowed,
        noBuffer: s.dropped.noBuffer, backend: s.backend };
    };
  };
}

async function jsSendGroupRelay(port, members) {
  const socket = await bindSocket(port);
  const sender = new Sender({ socket });
  const group = new Group(members);
  const c = { received: 0, forwarded: 0, sends: 0, failed: 0, notAllowed: 0 };
  const settled = (report) => {
    c.sends += report.sent;
    c.failed += report.failed;
  };
  const rejected = () => { c.failed += members.length; };
  socket.on('message', (msg, from) => {
    if (accepted(c, from)) sender.sendGroup(group, msg).then(settled, rejected);
  });
  return () => ({ ...c, backend: sender.backend });
}

async function dgramRelay(port, members) {
  const socket = await bindSocket(port);
  const c = { received: 0, forwarded: 0, sends: 0, failed: 0, notAllowed: 0 };
  // Without a callback a failed send is an 'error' event.
  socket.on('error', () => { c.failed++; });
  socket.on('message', (msg, from) => {
    if (!accepted(c, from)) return;
    for (const m of members) socket.send(msg, m.port, m.address);
    c.sends += members.length;
  });
  return () => ({ ...c, sends: c.sends - c.failed, backend: 'dgram' });
}

const VARIANTS = {
  'relay-native': nativeRelay('io_uring'),
  'relay-native-mmsg': nativeRelay('sendmmsg'),
  'relay-native-threads': nativeRelay('io_uring', 2),
  'relay-js-sendgroup': jsSendGroupRelay,
  'relay-dgram': dgramRelay,
};

async function main() {
  const [variant, port, file] = process.argv.slice(2);
  const start = VARIANTS[variant];
  if (!start || !file) throw new Error(`usage: node-relay.js ${Object.keys(VARIANTS).join('|')} PORT MEMBERS_FILE`);
  const counters = await start(Number(port), readMembers(file));
  process.on('SIGUSR2', () => {
    const { user, system } = process.cpuUsage();
    process.stdout.write(`${JSON.stringify({ cpuUs: user + system, ...counters() })}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
  process.stdout.write('{"ready":true}\n');
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
