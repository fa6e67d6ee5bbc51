#!/usr/bin/env node
// npm run relay-demo: `sendgroup relay` at work on this machine's loopback.
// It starts the relay (bin/sendgroup.js) on 127.0.0.1 with a members file
// naming two of three local receivers, sends it a numbered stream from an
// allowed source, adds the third receiver to the file halfway (the relay
// re-reads it by itself), has a source the relay does not allow send too,
// stops the relay with SIGTERM and checks what every receiver got.
'use strict';
const { spawn } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const RATE = 250;            // datagrams per second from the source
const SECONDS = 4;           // how long it sends
const JOIN_AT = SECONDS / 2; // when receiver 3 is added to the members file
const STRANGER = 20;         // datagrams from the source the relay does not allow
const SIZE = 1316;           // bytes per datagram: 7 MPEG-TS packets, as an IPTV stream has them
const DEADLINE_MS = 15000;   // a hang becomes a failure

const say = (line) => console.log(`demo  | ${line}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function udpSocket() {
  const socket = dgram.createSocket('udp4');
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket;
}

async function openReceiver(name) {
  const socket = await udpSocket();
  const receiver = { name, socket, target: `127.0.0.1:${socket.address().port}`, seqs: [], strange: 0 };
  socket.on('message', (message) => {
    const match = /^seq (\d+)\n/.exec(message.toString('latin1', 0, 16));
    if (match && message.length === SIZE) receiver.seqs.push(Number(match[1]));
    else receiver.strange++;
  });
  return receiver;
}

/** SIZE bytes: "seq N" and a newline, then padding. */
function datagram(seq) {
  const bytes = Buffer.alloc(SIZE, 0x47);
  bytes.write(`seq ${seq}\n`, 'latin1');
  return bytes;
}

/** Starts the relay; resolves with its port once it says where it listens. */
function startRelay(args) {
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'sendgroup.js'), 'relay', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  const output = [];
  const port = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the relay did not start')), DEADLINE_MS);
    for (const [stream, write] of [[child.stdout, (line) => console.log(line)], [child.stderr, (line) => console.error(line)]]) {
      let buffered = '';
      stream.setEncoding('utf8').on('data', (chunk) => {
        buffered += chunk;
        const lines = buffered.split('\n');
        buffered = lines.pop();
        for (const line of lines) {
          write(`relay | ${line}`);
          output.push(line);
          const listening = /^listening on 127\.0\.0\.1:(\d+)/.exec(line);
          if (listening) {
            clearTimeout(timer);
            resolve(Number(listening[1]));
          }
        }
      });
    }
    exited.then((status) => reject(new Error(`the relay exited (${status}) before it listened`)));
  });
  return { child, port, exited, output };
}

/** Why receiver's sequence numbers are not first..last, each once, in order; or ''. */
function gap(seqs, first, last) {
  if (seqs.length === 0) return 'got nothing';
  for (let i = 0; i < seqs.length; i++) {
    if (seqs[i] !== first + i) return `expected seq ${first + i} at position ${i + 1}, got ${seqs[i]}`;
  }
  return seqs[seqs.length - 1] === last ? '' : `ends at seq ${seqs[seqs.length - 1]}, not ${last}`;
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sendgroup-relay-demo-'));
  const receivers = [await openReceiver('receiver 1'), await openReceiver('receiver 2'), await openReceiver('receiver 3')];
  const source = await udpSocket();
  const stranger = await udpSocket();
  const members = path.join(dir, 'members.txt');
  fs.writeFileSync(members, `# one receiver per line\n${receivers[0].target}\n${receivers[1].target}\n`);
  say(`receivers on ${receivers.map((r) => r.target).join(', ')}; ${members} names the first two`);
  const args = ['--listen', '127.0.0.1:0', '--allow', `127.0.0.1:${source.address().port}`, '--to-file', members, '--stats-interval', '1'];
  say(`sendgroup relay ${args.join(' ')}`);
  const relay = startRelay(args);
  // Stopped early (Ctrl-C, a timeout): the relay goes too.
  const abandon = () => {
    relay.child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  };
  process.once('SIGINT', abandon).once('SIGTERM', abandon);
  let failure = '';
  try {
    const port = await relay.port;
    say(`sending ${SIZE}-byte datagrams numbered 1, 2, ... at ${RATE}/s for ${SECONDS} s from 127.0.0.1:${source.address().port}`);
    const total = RATE * SECONDS;
    const perTick = RATE / 50;
    let seq = 0;
    let joinedAt = 0;
    const started = Date.now();
    while (seq < total) {
      for (let i = 0; i < perTick && seq < total; i++) source.send(datagram(++seq), port, '127.0.0.1');
      if (!joinedAt && seq >= total / 2) {
        joinedAt = seq;
        const lines = fs.readFileSync(members, 'utf8') + `${receivers[2].target}\n`;
        fs.writeFileSync(`${members}.new`, lines);
        fs.renameSync(`${members}.new`, members);
        say(`seq ${seq} sent: added receiver 3 (${receivers[2].target}) to ${path.basename(members)}`);
        say(`a source the relay does not allow (127.0.0.1:${stranger.address().port}) sends ${STRANGER} datagrams`);
        for (let i = 0; i < STRANGER; i++) stranger.send(`not allowed ${i}`, port, '127.0.0.1');
      }
      await sleep(Math.max(0, started + (seq / RATE) * 1000 - Date.now()));
    }
    const deadline = Date.now() + DEADLINE_MS;
    while (receivers.some((r) => r.seqs.at(-1) !== total) && Date.now() < deadline) await sleep(20);
    say('sent everything; stopping the relay with SIGTERM');
    relay.child.kill('SIGTERM');
    const status = await Promise.race([relay.exited, sleep(DEADLINE_MS).then(() => 'no exit')]);
    if (status !== 0) failure = `the relay ended with ${status}, not exit status 0`;

    for (const receiver of receivers.slice(0, 2)) {
      const why = gap(receiver.seqs, 1, total);
      say(`${receiver.name}: ${receiver.seqs.length} datagrams, ${why || `seq 1 to ${total}, in order, none missing`}`);
      if (why) failure ||= `${receiver.name} ${why}`;
    }
    const joined = receivers[2];
    const first = joined.seqs[0];
    const why = first > joinedAt ? gap(joined.seqs, first, total) : `got seq ${first}, sent before it joined`;
    say(`receiver 3: ${joined.seqs.length} datagrams, ${why || `from seq ${first} (its first after the reload) to ${total}, in order, none missing`}`);
    if (why) failure ||= `receiver 3 ${why}`;
    const strange = receivers.reduce((n, r) => n + r.strange, 0);
    if (strange) failure ||= `${strange} datagrams of the stranger were forwarded`;
    const notAllowed = Number(/^total dropped: not-allowed (\d+)/.exec(relay.output.find((line) => line.startsWith('total dropped:')))?.[1]);
    if (notAllowed !== STRANGER) failure ||= `the relay counted ${notAllowed} datagrams not allowed, not ${STRANGER}`;
  } catch (error) {
    failure = error.message;
    relay.child.kill('SIGKILL');
  } finally {
    process.removeListener('SIGINT', abandon).removeListener('SIGTERM', abandon);
    for (const socket of [source, stranger, ...receivers.map((r) => r.socket)]) socket.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (failure) {
    console.log(`FAIL: ${failure}`);
    process.exitCode = 1;
  } else {
    console.log(`PASS: every receiver got every datagram sent while it was a member, in order; the ${STRANGER} from the stranger were dropped`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
