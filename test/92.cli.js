'use strict';
// `sendgroup relay` as a user runs it: bin/sendgroup.js spawned with node,
// real sockets on loopback. --help and bad usage (exit 2, the argument
// named), a port in use (exit 1); end to end: a numbered stream from an
// allowed source and one from a disallowed source, --to-file edited while it
// runs (replaced by rename, written in place, deleted, a malformed edit
// rejected with its line number, symlinks swapped like a Kubernetes
// ConfigMap), SIGHUP, --no-watch, --drop-unreachable, --max-datagram, status
// lines, the summary on SIGTERM/SIGINT with exit 0; README's relay demo. Every wait is for a line or a
// datagram; deadlines only turn hangs into failures. The test passes set
// SENDGROUP_THREADS and block io_uring, and the relay inherits both.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { onLines, openReceivers, testUnless } = require('./_helpers');

const root = path.join(__dirname, '..');
const BIN = path.join(root, 'bin', 'sendgroup.js');
const DEADLINE_MS = 20000;
const blocked = process.env.SENDGROUP_TEST_PASS === 'blocked';
const threads = Number(process.env.SENDGROUP_THREADS || 0);

/** Runs `sendgroup ARGS` to its end: { status, stdout, stderr }. */
function runCli(args, options = {}) {
  // SIGKILL: a relay stuck in a read never runs its SIGTERM handler.
  return spawnSync(process.execPath, [BIN, ...args], { cwd: root, encoding: 'utf8', timeout: DEADLINE_MS, killSignal: 'SIGKILL', ...options });
}

/** A running `sendgroup relay ARGS`: its output lines as they come, and waits for them. */
function startRelay(args) {
  const child = spawn(process.execPath, [BIN, 'relay', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = { out: [], err: [] };
  const waiters = new Set();
  const check = () => {
    for (const waiter of waiters) waiter();
  };
  onLines(child.stdout, (line) => { lines.out.push(line); check(); });
  onLines(child.stderr, (line) => { lines.err.push(line); check(); });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => { resolve({ code, signal }); check(); }));
  let exitStatus;
  exited.then((status) => { exitStatus = status; });
  const transcript = () => `stdout:\n${lines.out.join('\n')}\nstderr:\n${lines.err.join('\n')}`;
  return {
    child,
    lines,
    exited,
    transcript,
    /** The nth line (from 1) of stream matching pattern, once it is there: its match. */
    line(pattern, { stream = 'out', nth = 1 } = {}) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { waiters.delete(waiter); reject(new Error(`no line ${pattern} (#${nth}) on ${stream} within ${DEADLINE_MS} ms\n${transcript()}`)); },
          DEADLINE_MS);
        const waiter = () => {
          const matches = lines[stream].map((text) => pattern.exec(text)).filter(Boolean);
          if (matches.length >= nth) {
            waiters.delete(waiter);
            clearTimeout(timer);
            resolve(matches[nth - 1]);
          } else if (exitStatus) {
            waiters.delete(waiter);
            clearTimeout(timer);
            reject(new Error(`the relay exited (${JSON.stringify(exitStatus)}) before a line ${pattern}\n${transcript()}`));
          }
        };
        waiters.add(waiter);
        waiter();
      });
    },
    /** Signals it and waits for its exit: { code, signal }. */
    async stop(signal = 'SIGTERM') {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS);
      const status = await exited;
      clearTimeout(timer);
      return status;
    },
    kill() {
      if (exitStatus === undefined) child.kill('SIGKILL');
    },
  };
}

/** Ends what a test started: each relay killed, each socket or receiver set closed, its directory removed. */
function release(dir, ...owned) {
  for (const item of owned) {
    if (item?.kill) item.kill();
    else item?.close();
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

async function openSource() {
  const socket = dgram.createSocket('udp4');
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket;
}

function send(socket, text, port) {
  return new Promise((resolve, reject) => socket.send(text, port, '127.0.0.1', (error) => (error ? reject(error) : resolve())));
}

function range(prefix, from, to) {
  return Array.from({ length: to - from + 1 }, (_, i) => `${prefix}-${from + i}`);
}

/** Writes the file the way editors that save by rename do: a new file moved over the old one. */
function replaceFile(file, text) {
  fs.writeFileSync(`${file}.new`, text);
  fs.renameSync(`${file}.new`, file);
}

/** The first line: where it listens, the backend and threads this pass must give. */
async function listening(relay) {
  const [, port, backend, mode] = await relay.line(/^listening on 127\.0\.0\.1:(\d+), backend (\w+), (inline|\d+ threads?),/);
  if (blocked) assert.is(backend, 'sendmmsg', 'io_uring is blocked in this pass');
  assert.is(mode, threads ? `${threads} threads` : 'inline');
  return Number(port);
}

/** The four totals lines of the summary, as numbers. */
async function summary(relay) {
  const [, received, forwarded, sends, failed] = await relay.line(/^total: received (\d+), forwarded (\d+), sends (\d+) \([^)]*\), failed sends (\d+)/);
  const [, notAllowed, noBuffer, truncated, noMembers, looped] =
    await relay.line(/^total dropped: not-allowed (\d+), no-buffer (\d+), truncated (\d+), no-members (\d+), looped (\d+)$/);
  const [, members, unreachable, dropped] = await relay.line(/^total: members (\d+) at the end, unreachable events (\d+)(?:, members dropped as unreachable (\d+))?$/);
  return {
    received: +received, forwarded: +forwarded, sends: +sends, failed: +failed,
    notAllowed: +notAllowed, noBuffer: +noBuffer, truncated: +truncated, noMembers: +noMembers, looped: +looped,
    members: +members, unreachable: +unreachable, dropped: dropped === undefined ? undefined : +dropped,
  };
}

// ---------------------------------------------------------------- usage

test('--help documents every option; sendgroup --help and --version', () => {
  const { RELAY_OPTIONS } = require('../dist/cli.js');
  const help = runCli(['relay', '--help']);
  assert.is(help.status, 0, help.stderr);
  const expected = ['--listen', '--allow', '--to', '--to-file', '--no-watch', '--drop-unreachable', '--zero-copy', '--threads', '--backend',
    '--buffers', '--max-datagram', '--send-buffer-size', '--ttl', '--tos', '--stats-interval', '--help'];
  assert.equal(Object.keys(RELAY_OPTIONS).map((name) => `--${name}`).sort(), [...expected].sort(), 'the options parseArgs takes are the ones documented here');
  for (const option of expected) assert.match(help.stdout, new RegExp(`^ +(-h, )?${option} `, 'm'), `--help describes ${option}`);
  for (const topic of ['SIGHUP', 'SIGTERM', 'Exit status', 'not-allowed', 'no-buffer', 'truncated', 'no-members', 'looped', 'unreachable']) {
    assert.ok(help.stdout.includes(topic), `--help mentions ${topic}`);
  }
  assert.is(help.stderr, '');
  assert.is(runCli(['relay', '-h']).stdout, help.stdout);

  const top = runCli(['--help']);
  assert.is(top.status, 0);
  assert.match(top.stdout, /^Usage: sendgroup <command>/);
  assert.match(top.stdout, /^ +relay +/m);
  const version = runCli(['--version']);
  assert.is(version.status, 0);
  assert.is(version.stdout.trim(), require('../package.json').version);
});

test('bad usage exits 2 with a message naming the argument and what is wrong', () => {
  const base = ['--listen', '127.0.0.1:0', '--allow', 'any', '--to', '127.0.0.1:9'];
  const cases = [
    [[], /^sendgroup: a command is required: relay/],
    [['frob'], /^sendgroup: unknown command 'frob'/],
    [['relay'], /--listen HOST:PORT is required/],
    [['relay', '--listen'], /--listen needs a value/],
    [['relay', '--listen', 'localhost:5000', '--allow', 'any', '--to', '127.0.0.1:9'], /--listen 'localhost:5000': 'localhost' is not an IP address/],
    [['relay', '--listen', '127.0.0.1', '--allow', 'any', '--to', '127.0.0.1:9'], /--listen '127\.0\.0\.1': expected HOST:PORT/],
    [['relay', '--listen', '127.0.0.1:0', '--to', '127.0.0.1:9'], /--allow is required/],
    [['relay', '--listen', '127.0.0.1:0', '--allow', 'any'], /no members: give --to HOST:PORT .* or --to-file FILE/],
    [['relay', '--listen', '127.0.0.1:0', '--allow', 'any,127.0.0.1', '--to', '127.0.0.1:9'], /--allow any .* cannot be combined with addresses/],
    [['relay', '--listen', '127.0.0.1:0', '--allow', '127.0.0.1,', '--to', '127.0.0.1:9'], /--allow: an empty address/],
    [['relay', '--listen', '127.0.0.1:0', '--allow', '10.0.0.300', '--to', '127.0.0.1:9'], /--allow '10\.0\.0\.300': '10\.0\.0\.300' is not an IP address/],
    [['relay', '--listen', '127.0.0.1:0', '--allow', '127.0.0.0/8', '--to', '127.0.0.1:9'], /--allow '127\.0\.0\.0\/8': address ranges are not taken; name each address/],
    [['relay', '--listen', '[::]:0', '--allow', '2001:db8::/32', '--to', '127.0.0.1:9'], /--allow '2001:db8::\/32': address ranges are not taken/],
    [['relay', '--listen', '127.0.0.1:0', '--allow', '0.0.0.0', '--to', '127.0.0.1:9'], /--allow '0\.0\.0\.0': 0\.0\.0\.0 is not a source address \(to allow every source, say --allow any\)/],
    [['relay', '--listen', '[::]:0', '--allow', '[::]', '--to', '127.0.0.1:9'], /--allow '\[::\]': :: is not a source address/],
    [['relay', '--listen', '[::]:0', '--allow', 'any', '--to', '[::]:9'], /--to '\[::\]:9': :: is not a member address \(a datagram to it goes to this host\)/],
    [['relay', '--listen', '127.0.0.1:0', '--allow', '::1', '--to', '127.0.0.1:9'], /--allow '::1': an IPv6 source and --listen 127\.0\.0\.1:0 \(IPv4 only\)/],
    [['relay', ...base.slice(0, 4), '--to', '127.0.0.1:0'], /--to '127\.0\.0\.1:0': the port must be a number from 1 to 65535/],
    [['relay', ...base.slice(0, 4), '--to', '127.0.0.1:65536'], /--to '127\.0\.0\.1:65536': the port must be/],
    [['relay', ...base.slice(0, 4), '--to', '2001:db8::1:5000'], /--to '2001:db8::1:5000': an IPv6 address needs its port: \[ADDRESS\]:PORT/],
    [['relay', ...base.slice(0, 4), '--to', 'fe80::g:5000'], /--to 'fe80::g:5000': an IPv6 address with a port is written \[ADDRESS\]:PORT/],
    [['relay', ...base.slice(0, 4), '--to', '[fe80::1%eth0]:5000'], /--to '\[fe80::1%eth0\]:5000': the address's IPv6 zone must be a numeric interface index/],
    [['relay', '--listen', '[fe80::1%eth0]:0', '--allow', 'any', '--to', '[::1]:9'], /--listen '\[fe80::1%eth0\]:0': the address's IPv6 zone/],
    [['relay', '--listen', '[::]:0', '--allow', '[fe80::1%x]', '--to', '[::1]:9'], /--allow '\[fe80::1%x\]': the address's IPv6 zone/],
    [['relay', ...base.slice(0, 4), '--to', '127.0.0.1:5004:x'], /--to '127\.0\.0\.1:5004:x': one ':' between an IPv4 address and its port/],
    [['relay', ...base.slice(0, 4), '--to', '[::1]:5000'], /--to '\[::1\]:5000': an IPv6 member and --listen 127\.0\.0\.1:0 \(IPv4 only\)/],
    [['relay', ...base, '--threads', '65'], /--threads '65': must be a whole number from 0 to 64/],
    [['relay', ...base, '--threads', 'two'], /--threads 'two': must be a whole number/],
    [['relay', ...base, '--stats-interval', '-1'], /--stats-interval needs a value/],
    [['relay', ...base, '--stats-interval=-1'], /--stats-interval '-1': must be a number of seconds/],
    [['relay', ...base, '--stats-interval', '0.01'], /--stats-interval '0\.01': must be a number of seconds from 0\.1/],
    [['relay', ...base, '--backend', 'epoll'], /--backend 'epoll': must be auto, io_uring or sendmmsg/],
    [['relay', ...base, '--max-datagram', '70000'], /--max-datagram '70000': must be a whole number from 1 to 65507/],
    [['relay', ...base, '--ttl', '0'], /--ttl '0': must be a whole number from 1 to 255/],
    [['relay', ...base, '--buffers', '0'], /--buffers '0': must be a whole number from 1/],
    [['relay', ...base, '--bogus'], /unknown option '--bogus'/],
    [['relay', ...base, '--zero-copy=yes'], /--zero-copy takes no value/],
    [['relay', ...base, 'extra'], /unexpected argument 'extra'/],
    [['relay', ...base, '--listen', '127.0.0.1:1'], /--listen is given more than once/],
    [['relay', ...base, '--no-watch'], /--no-watch applies to --to-file/],
    [['relay', ...base.slice(0, 4), '--to-file', path.join(os.tmpdir(), 'sendgroup-no-such-file')], /--to-file .*sendgroup-no-such-file: cannot read it \(ENOENT\)/],
    // What the user typed is said escaped, never raw into a terminal or journal.
    [['\x1b[2J'], /unknown command '\\u001b\[2J'/],
    [['relay', ...base.slice(0, 4), '--to', '\x1b[2J:5000'], /--to '\\u001b\[2J:5000': '\\u001b\[2J' is not an IP address/],
    [['relay', '--listen', '1.2.3.4\u202e:1', '--allow', 'any', '--to', '127.0.0.1:9'], /--listen '1\.2\.3\.4\\u202e:1': /],
    [['relay', ...base, '--backend', 'e\x07poll'], /--backend 'e\\u0007poll'/],
    [['relay', ...base, '--bo\x1bgus'], /unknown option '--bo\\u001bgus'/],
  ];
  for (const [args, message] of cases) {
    const result = runCli(args);
    const said = `sendgroup ${args.join(' ')}:\n${result.stderr}`;
    assert.is(result.status, 2, said);
    assert.match(result.stderr, message, said);
    assert.match(result.stderr, /Try 'sendgroup( relay)? --help'\./, said);
    assert.is(result.stdout, '', said);
    assert.not.match(result.stderr, /[\x00-\x08\x1b\u202e]/, said);
  }
});

test('a malformed --to-file at start exits 2 naming the file and line', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-cli-'));
  try {
    const file = path.join(dir, 'members');
    fs.writeFileSync(file, '# members\n127.0.0.1:5000\n\n127.0.0.1:5001 127.0.0.1:5002\n');
    let result = runCli(['relay', '--listen', '127.0.0.1:0', '--allow', 'any', '--to-file', file]);
    assert.is(result.status, 2, result.stderr);
    assert.ok(result.stderr.includes(`--to-file ${file}:4: '127.0.0.1:5001 127.0.0.1:5002': one HOST:PORT per line`), result.stderr);
    fs.writeFileSync(file, '127.0.0.1:5000\n[fe80::1%eth0]:5000\n');
    result = runCli(['relay', '--listen', '[::]:0', '--allow', 'any', '--to-file', file]);
    assert.is(result.status, 2, result.stderr);
    assert.ok(result.stderr.includes(`${file}:2: '[fe80::1%eth0]:5000': the address's IPv6 zone must be`), result.stderr);
    fs.writeFileSync(file, '127.0.0.1:5000\nrelay.example:5000 # a name\n');
    result = runCli(['relay', '--listen', '127.0.0.1:0', '--allow', 'any', '--to-file', file]);
    assert.is(result.status, 2, result.stderr);
    assert.ok(result.stderr.includes(`${file}:2: 'relay.example:5000': 'relay.example' is not an IP address`), result.stderr);
    // A file caught half-written with binary bytes: said escaped, never raw into a terminal or journal.
    fs.writeFileSync(file, `\x1b[2J\x07${'z'.repeat(100)}:5000\n`);
    result = runCli(['relay', '--listen', '127.0.0.1:0', '--allow', 'any', '--to-file', file]);
    assert.is(result.status, 2, result.stderr);
    assert.ok(result.stderr.includes(`${file}:1: '\\u001b[2J\\u0007${'z'.repeat(55)}…'`), result.stderr);
    assert.not.match(result.stderr, /[\x07\x1b]/);
    // Saved as UTF-16 by an editor: said so, not as a line of NULs.
    fs.writeFileSync(file, Buffer.from('\ufeff127.0.0.1:5000\n', 'utf16le'));
    result = runCli(['relay', '--listen', '127.0.0.1:0', '--allow', 'any', '--to-file', file]);
    assert.is(result.status, 2, result.stderr);
    assert.ok(result.stderr.includes(`${file}: not a text file in UTF-8 (it holds NUL bytes; UTF-16?): save it as UTF-8`), result.stderr);
    fs.writeFileSync(file, '127.0.0.1:5000\n0.0.0.0:5000\n');
    result = runCli(['relay', '--listen', '127.0.0.1:0', '--allow', 'any', '--to-file', file]);
    assert.is(result.status, 2, result.stderr);
    assert.ok(result.stderr.includes(`${file}:2: '0.0.0.0:5000': 0.0.0.0 is not a member address`), result.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a port in use exits 1 saying which port is in use', async () => {
  const busy = await openSource();
  try {
    const { port } = busy.address();
    const result = runCli(['relay', '--listen', `127.0.0.1:${port}`, '--allow', 'any', '--to', '127.0.0.1:9']);
    assert.is(result.status, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`^sendgroup relay: --listen 127\\.0\\.0\\.1:${port}: port ${port} is in use \\(EADDRINUSE\\)`));
    assert.is(result.stdout, '');
  } finally {
    busy.close();
  }
});

// ---------------------------------------------------------------- end to end

test('end to end: the allowed stream in order, --to-file edits (rename, in place, malformed), SIGHUP, SIGTERM summary', async () => {
  const rx = await openReceivers(3);
  const [A, B, C] = rx.targets;
  const allowed = await openSource();
  const stranger = await openSource();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-cli-'));
  const file = path.join(dir, 'members.txt');
  fs.writeFileSync(file, `# receivers\n${A}\n\n${B}   # the second\n${A}\n`);
  const relay = startRelay(['--listen', '127.0.0.1:0', '--allow', `127.0.0.1:${allowed.address().port}`, '--to-file', file, '--stats-interval', '0.2']);
  let expected = 0;
  let seq = 0;
  /** count numbered datagrams from each source, in windows; waits for the allowed ones at `members` receivers. */
  const stream = async (port, count, members) => {
    for (let sent = 0; sent < count; sent += 10) {
      for (let i = 0; i < 10; i++) {
        seq++;
        await send(stranger, `x-${seq}`, port);
        await send(allowed, `a-${seq}`, port);
      }
      expected += 10 * members;
      await rx.waitFor(expected);
    }
  };
  const got = () => rx.messages.map((list) => list.map(String));
  try {
    const port = await listening(relay);
    assert.match(relay.lines.out[0], /, allow 127\.0\.0\.1:\d+, 2 members \(1 duplicate ignored\)$/);

    await stream(port, 50, 2);
    assert.equal(got(), [range('a', 1, 50), range('a', 1, 50), []]);

    // Replaced by rename: C in, B out; A stays (and keeps its place).
    replaceFile(file, `${A}\n${C}\n`);
    await relay.line(new RegExp(`^reloaded .*members\\.txt \\(change\\): \\+1 -1, 2 members; added ${C}; removed ${B}$`));
    await stream(port, 50, 2);
    assert.equal(got(), [range('a', 1, 100), range('a', 1, 50), range('a', 51, 100)]);

    // A malformed edit is reported with its line number; the members stay.
    fs.writeFileSync(file, `${A}\n${C}\n${B.replace(/:\d+$/, '')}\n`);
    await relay.line(new RegExp(`^rejected .*members\\.txt:3: '127\\.0\\.0\\.1': expected HOST:PORT.*; keeping the previous 2 members$`), { stream: 'err' });
    await stream(port, 20, 2);
    assert.equal(got(), [range('a', 1, 120), range('a', 1, 50), range('a', 51, 120)]);

    // Written in place: B back, at the end.
    fs.writeFileSync(file, `${A}\n${C}\n${B}\n`);
    await relay.line(new RegExp(`^reloaded .*members\\.txt \\(change\\): \\+1 -0, 3 members; added ${B}$`));
    await stream(port, 20, 3);
    assert.equal(got(), [range('a', 1, 140), [...range('a', 1, 50), ...range('a', 121, 140)], range('a', 51, 140)]);

    // Gone for a while: said once, the members stay; back as it was: nothing to do.
    fs.unlinkSync(file);
    await relay.line(/^--to-file .*members\.txt: cannot read it \(ENOENT\); keeping the 3 members$/, { stream: 'err' });
    fs.writeFileSync(file, `${A}\n${C}\n${B}\n`);

    // SIGHUP re-reads: nothing changed.
    relay.child.kill('SIGHUP');
    await relay.line(/^reloaded .*members\.txt \(SIGHUP\): \+0 -0, 3 members$/);

    // A status line counts what came in per second; members now.
    await relay.line(/^status: in \d+(\.\d)?\/s, out \d+(\.\d)?\/s \d+\.\d\d Mbit\/s, pending \d+, members 3, dropped not-allowed \d+, no-buffer 0, truncated 0, no-members 0, looped 0, failed sends 0, unreachable 0$/);

    const status = await relay.stop('SIGTERM');
    assert.equal(status, { code: 0, signal: null }, relay.transcript());
    await relay.line(/^stopped by SIGTERM after \d+\.\d s, backend (io_uring|sendmmsg)$/);
    const total = await summary(relay);
    assert.equal(total, {
      received: 280, forwarded: 140, sends: 50 * 2 + 50 * 2 + 20 * 2 + 20 * 3, failed: 0,
      notAllowed: 140, noBuffer: 0, truncated: 0, noMembers: 0, looped: 0, members: 3, unreachable: 0, dropped: undefined,
    });
    assert.is(rx.total, total.sends);
    assert.ok(got().flat().every((text) => text.startsWith('a-')), 'nothing of the disallowed source was forwarded');
    assert.is(relay.lines.err.length, 2, `the rejected edit and the missing file, nothing else:\n${relay.lines.err.join('\n')}`);
  } finally {
    release(dir, relay, rx, allowed, stranger);
  }
});

test('a --to-file reached through symlinks swapped the way Kubernetes updates a ConfigMap is re-read', async () => {
  const rx = await openReceivers(2);
  const source = await openSource();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-cli-'));
  // dir/members -> ..data/members, ..data -> ..v1; an update writes ..v2 and renames a new ..data over the old.
  fs.mkdirSync(path.join(dir, '..v1'));
  fs.writeFileSync(path.join(dir, '..v1', 'members'), `${rx.targets[0]}\n`);
  fs.symlinkSync('..v1', path.join(dir, '..data'));
  fs.symlinkSync(path.join('..data', 'members'), path.join(dir, 'members'));
  const relay = startRelay(['--listen', '127.0.0.1:0', '--allow', '127.0.0.1', '--to-file', path.join(dir, 'members'), '--stats-interval', '0']);
  try {
    const port = await listening(relay);
    fs.mkdirSync(path.join(dir, '..v2'));
    fs.writeFileSync(path.join(dir, '..v2', 'members'), `${rx.targets[0]}\n${rx.targets[1]}\n`);
    fs.symlinkSync('..v2', path.join(dir, '..data_tmp'));
    fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    await relay.line(new RegExp(`^reloaded .*members \\(change\\): \\+1 -0, 2 members; added ${rx.targets[1]}$`));
    await send(source, 'after the swap', port);
    await rx.waitFor(2);
    assert.equal(rx.messages.map((list) => list.map(String)), [['after the swap'], ['after the swap']]);
    assert.equal(await relay.stop(), { code: 0, signal: null }, relay.transcript());
  } finally {
    release(dir, relay, rx, source);
  }
});

test('a --to-file is still followed after a directory on its path is removed and made again, or a symlinked directory above it is swapped to another release, or that release removed and made again', async () => {
  const rx = await openReceivers(4);
  const source = await openSource();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-cli-'));
  // dir/site/conf/members; then dir/site goes, and comes back.
  const conf = path.join(dir, 'site', 'conf');
  fs.mkdirSync(conf, { recursive: true });
  fs.writeFileSync(path.join(conf, 'members'), `${rx.targets[0]}\n`);
  // dir/current/conf/members, current -> release1; a deploy makes release2 and renames a new link over current.
  const releaseFile = (n) => path.join(dir, `release${n}`, 'conf', 'members');
  fs.mkdirSync(path.dirname(releaseFile(1)), { recursive: true });
  fs.writeFileSync(releaseFile(1), `${rx.targets[0]}\n`);
  fs.symlinkSync('release1', path.join(dir, 'current'));
  const recreated = startRelay(['--listen', '127.0.0.1:0', '--allow', '127.0.0.1', '--to-file', path.join(conf, 'members'), '--stats-interval', '0']);
  const swapped = startRelay(['--listen', '127.0.0.1:0', '--allow', '127.0.0.1', '--to-file', path.join(dir, 'current', 'conf', 'members'), '--stats-interval', '0']);
  try {
    const ports = [await listening(recreated), await listening(swapped)];
    fs.rmSync(path.join(dir, 'site'), { recursive: true });
    await recreated.line(/cannot read it \(ENOENT\); keeping the 1 member$/, { stream: 'err' });
    fs.mkdirSync(conf, { recursive: true });
    fs.writeFileSync(path.join(conf, 'members'), `${rx.targets[1]}\n`);
    await recreated.line(new RegExp(`^reloaded .*members \\(change\\): \\+1 -1, 1 member; added ${rx.targets[1]}; removed ${rx.targets[0]}$`));
    // Edited in place in the directory made again: its watch is new too.
    fs.writeFileSync(path.join(conf, 'members'), `${rx.targets[1]}\n${rx.targets[2]}\n`);
    await recreated.line(new RegExp(`^reloaded .*members \\(change\\): \\+1 -0, 2 members; added ${rx.targets[2]}$`));

    fs.mkdirSync(path.dirname(releaseFile(2)), { recursive: true });
    fs.writeFileSync(releaseFile(2), `${rx.targets[3]}\n`);
    fs.symlinkSync('release2', path.join(dir, 'current.new'));
    fs.renameSync(path.join(dir, 'current.new'), path.join(dir, 'current'));
    await swapped.line(new RegExp(`^reloaded .*members \\(change\\): \\+1 -1, 1 member; added ${rx.targets[3]}; removed ${rx.targets[0]}$`));
    // Edited in place in the new release: watched now, the old one no more.
    fs.writeFileSync(releaseFile(2), `${rx.targets[3]}\n${rx.targets[0]}\n`);
    await swapped.line(new RegExp(`^reloaded .*members \\(change\\): \\+1 -0, 2 members; added ${rx.targets[0]}$`));
    // The release the link points to removed and made again (before, no
    // longer watched: only SIGHUP read it).
    fs.rmSync(path.join(dir, 'release2'), { recursive: true });
    await swapped.line(/cannot read it \(ENOENT\); keeping the 2 members$/, { stream: 'err' });
    fs.mkdirSync(path.dirname(releaseFile(2)), { recursive: true });
    fs.writeFileSync(releaseFile(2), `${rx.targets[3]}\n`);
    await swapped.line(new RegExp(`^reloaded .*members \\(change\\): \\+0 -1, 1 member; removed ${rx.targets[0]}$`));

    await send(source, 'recreated', ports[0]);
    await send(source, 'swapped', ports[1]);
    await rx.waitFor(3);
    assert.equal(rx.messages.map((list) => list.map(String)), [[], ['recreated'], ['recreated'], ['swapped']]);
    assert.equal(await recreated.stop(), { code: 0, signal: null }, recreated.transcript());
    assert.equal(await swapped.stop(), { code: 0, signal: null }, swapped.transcript());
  } finally {
    release(dir, recreated, swapped, rx, source);
  }
});

// A controller that rewrites the file more often than the watch's 200 ms
// settling time (a busy signalling server): the file is still re-read while
// that goes on (before, never until the writes stopped).
test('a --to-file rewritten every 100 ms is re-read while the rewrites go on', async () => {
  const rx = await openReceivers(1);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-cli-'));
  const file = path.join(dir, 'members');
  fs.writeFileSync(file, `${rx.targets[0]}\n`);
  const relay = startRelay(['--listen', '127.0.0.1:0', '--allow', '127.0.0.1', '--to-file', file, '--stats-interval', '0']);
  let rewrites = 0;
  let writer;
  try {
    await listening(relay);
    writer = setInterval(() => {
      rewrites++;
      const members = [rx.targets[0], ...Array.from({ length: rewrites }, (_, i) => `127.0.0.1:${20000 + i}`)];
      replaceFile(file, `${members.join('\n')}\n`);
    }, 100);
    const [, added] = await relay.line(/^reloaded .*members \(change\): \+(\d+) -0, \d+ members/);
    assert.ok(Number(added) >= 1 && Number(added) <= rewrites, `+${added} after ${rewrites} rewrites`);
    clearInterval(writer);
    assert.equal(await relay.stop(), { code: 0, signal: null }, relay.transcript());
  } finally {
    clearInterval(writer);
    release(dir, relay, rx);
  }
});

test('--drop-unreachable with --no-watch: a dead member is dropped, SIGHUP brings it back with the edits; SIGINT summary', async () => {
  const rx = await openReceivers(3);
  const [A, B, C] = rx.targets;
  const dead = await openSource();
  const D = `127.0.0.1:${dead.address().port}`;
  dead.close(); // nothing listens there now: ICMP port unreachable
  const source = await openSource();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-cli-'));
  const file = path.join(dir, 'members');
  fs.writeFileSync(file, `${B}\n${D}\n`);
  const relay = startRelay(['--listen', '127.0.0.1:0', '--allow', '127.0.0.1', '--to', A, '--to-file', file, '--no-watch', '--drop-unreachable',
    '--stats-interval', '0.1']);
  try {
    const port = await listening(relay);
    assert.match(relay.lines.out[0], /, allow 127\.0\.0\.1, 3 members$/);

    await send(source, 'one', port);
    await relay.line(new RegExp(`^dropped ${D}: port unreachable \\(ECONNREFUSED\\), 2 members$`));
    await rx.waitFor(2);
    await relay.line(/, members 2, .*, unreachable 1$/);

    // Edited without a watch: nothing happens until SIGHUP, which also restores D.
    fs.writeFileSync(file, `${B}\n${C}\n${D}\n# C joined\n`);
    relay.child.kill('SIGHUP');
    await relay.line(new RegExp(`^reloaded .*members \\(SIGHUP\\): \\+2 -0, 4 members; added ${C}, ${D}$`));
    await send(source, 'two', port);
    await relay.line(new RegExp(`^dropped ${D}: port unreachable \\(ECONNREFUSED\\), 3 members$`));
    await rx.waitFor(5);
    assert.equal(rx.messages.map((list) => list.map(String)), [['one', 'two'], ['one', 'two'], ['two']]);

    const status = await relay.stop('SIGINT');
    assert.equal(status, { code: 0, signal: null }, relay.transcript());
    await relay.line(/^stopped by SIGINT after /);
    const total = await summary(relay);
    assert.equal([total.received, total.forwarded, total.sends, total.notAllowed, total.members, total.dropped], [2, 2, 7, 0, 3, 2]);
    assert.ok(total.unreachable >= 2, `${total.unreachable} unreachable events`);
    assert.not.ok(relay.lines.out.some((line) => /\(change\)/.test(line)), '--no-watch: no reload on change');
  } finally {
    release(dir, relay, rx, source);
  }
});

// A signalling server that rewrites the same list when a viewer comes back:
// before, a re-read of unchanged text did nothing, and the viewer stayed dropped.
test('--drop-unreachable: a dropped member comes back at the next re-read of the file, also when its text is unchanged', async () => {
  const rx = await openReceivers(1);
  const comeback = await openSource();
  const { port: backPort } = comeback.address();
  const D = `127.0.0.1:${backPort}`;
  comeback.close(); // nothing listens there for now: ICMP port unreachable
  const source = await openSource();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-cli-'));
  const file = path.join(dir, 'members');
  const text = `${rx.targets[0]}\n${D}\n`;
  fs.writeFileSync(file, text);
  const relay = startRelay(['--listen', '127.0.0.1:0', '--allow', '127.0.0.1', '--to-file', file, '--drop-unreachable', '--stats-interval', '0']);
  let back;
  try {
    const port = await listening(relay);
    await send(source, 'one', port);
    await relay.line(new RegExp(`^dropped ${D}: port unreachable \\(ECONNREFUSED\\), 1 member$`));
    back = dgram.createSocket('udp4');
    const arrived = new Promise((resolve) => back.once('message', (message) => resolve(String(message))));
    await new Promise((resolve) => back.bind(backPort, '127.0.0.1', resolve));
    fs.writeFileSync(file, text);
    await relay.line(new RegExp(`^reloaded .*members \\(change\\): \\+1 -0, 2 members; added ${D}$`));
    await send(source, 'two', port);
    let timer;
    const deadline = new Promise((resolve) => { timer = setTimeout(resolve, DEADLINE_MS, `nothing within ${DEADLINE_MS} ms`); });
    const first = await Promise.race([arrived, deadline]);
    clearTimeout(timer);
    assert.is(first, 'two', `${D} after it came back`);
    await rx.waitFor(2);
    assert.equal(rx.messages[0].map(String), ['one', 'two']);
    assert.equal(await relay.stop('SIGTERM'), { code: 0, signal: null }, relay.transcript());
  } finally {
    release(dir, relay, rx, source, back);
  }
});

// A log written beside the members file: its events are the directory's,
// not the file's. One event must not re-read the file (with
// --drop-unreachable a re-read brings the dropped back), and a stream of
// them must not hold an edit back (each event restarted the wait).
test('--to-file beside a file written all the time: its events change nothing, an edit is still applied', async () => {
  const rx = await openReceivers(2);
  const [A, B] = rx.targets;
  const gone = await openSource();
  const D = `127.0.0.1:${gone.address().port}`;
  gone.close();
  const source = await openSource();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-cli-'));
  const file = path.join(dir, 'members');
  const log = path.join(dir, 'relay.log');
  fs.writeFileSync(file, `${A}\n${D}\n`);
  const relay = startRelay(['--listen', '127.0.0.1:0', '--allow', '127.0.0.1', '--to-file', file, '--drop-unreachable', '--stats-interval', '0.1']);
  let writer;
  const statusLines = () => relay.lines.out.filter((line) => line.startsWith('status:')).length;
  try {
    const port = await listening(relay);
    await send(source, 'one', port);
    await relay.line(new RegExp(`^dropped ${D}: port unreachable \\(ECONNREFUSED\\), 1 member$`));
    // One write beside it; then 15 status lines (1.5 s): far more than a re-read takes.
    fs.writeFileSync(log, 'started\n');
    const [, members] = await relay.line(/^status: .*, members (\d+),/, { nth: statusLines() + 15 });
    assert.is(members, '1', `${D} stays dropped`);
    assert.not.ok(relay.lines.out.some((line) => line.startsWith('reloaded')), relay.transcript());
    // Written every 20 ms from now on, and the members file replaced meanwhile.
    writer = setInterval(() => fs.appendFileSync(log, 'status\n'), 20);
    replaceFile(file, `${A}\n${B}\n`);
    await relay.line(new RegExp(`^reloaded .*members \\(change\\): \\+1 -0, 2 members; added ${B}$`));
    await send(source, 'two', port);
    await rx.waitFor(3);
    assert.equal(rx.messages.map((list) => list.map(String)), [['one', 'two'], ['two']]);
    clearInterval(writer);
    assert.equal(await relay.stop('SIGTERM'), { code: 0, signal: null }, relay.transcript());
  } finally {
    clearInterval(writer);
    release(dir, relay, rx, source);
  }
});

// A FIFO (or a device) as --to-file could block the relay's only thread in
// the read: refused at start, and when the file is replaced by one.
test('--to-file must be a regular file: a FIFO is refused at start (exit 2) and at a re-read (the members stay)', async () => {
  const rx = await openReceivers(1);
  const source = await openSource();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-cli-'));
  const file = path.join(dir, 'members');
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  let relay;
  try {
    const result = runCli(['relay', '--listen', '127.0.0.1:0', '--allow', 'any', '--to-file', fifo]);
    assert.is(result.status, 2, result.stderr);
    assert.match(result.stderr, /--to-file .*fifo: cannot read it \(not a regular file\)/);
    fs.writeFileSync(file, `${rx.targets[0]}\n`);
    relay = startRelay(['--listen', '127.0.0.1:0', '--allow', '127.0.0.1', '--to-file', file, '--stats-interval', '0']);
    const port = await listening(relay);
    fs.renameSync(fifo, file);
    await relay.line(/^--to-file .*members: cannot read it \(not a regular file\); keeping the 1 member$/, { stream: 'err' });
    await send(source, 'still', port);
    await rx.waitFor(1);
    assert.equal(rx.messages[0].map(String), ['still']);
    assert.equal(await relay.stop('SIGTERM'), { code: 0, signal: null }, relay.transcript());
  } finally {
    release(dir, relay, rx, source);
  }
});

// SIGHUP's default action ends a process: while the relay drained after
// SIGTERM it had no listener, and a reload signal then killed it (129).
// 100 datagrams to 500 members on a closed port keep the drain going a while.
test('SIGHUP while the relay is stopping does nothing: it still ends with its summary and exit 0', async () => {
  const gone = await openSource();
  const deadPort = gone.address().port;
  gone.close();
  const source = await openSource();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-cli-'));
  const file = path.join(dir, 'members');
  fs.writeFileSync(file, Array.from({ length: 500 }, (_, i) => `127.0.${(i + 2) >> 8}.${(i + 2) & 255}:${deadPort}\n`).join(''));
  const relay = startRelay(['--listen', '127.0.0.1:0', '--allow', '127.0.0.1', '--to-file', file, '--stats-interval', '0']);
  try {
    const port = await listening(relay);
    for (let i = 0; i < 100; i++) await send(source, `burst-${i}`, port);
    relay.child.kill('SIGTERM');
    await relay.line(/^SIGTERM: stopped receiving; the sends in flight finish first \(SIGTERM again exits at once\)$/);
    assert.equal(await relay.stop('SIGHUP'), { code: 0, signal: null }, relay.transcript());
    assert.is((await summary(relay)).members, 500);
  } finally {
    release(dir, relay, source);
  }
});

test('--to members, --stats-interval 0, --max-datagram: no status lines, longer datagrams dropped; SIGHUP restores a dropped --to member', async () => {
  const rx = await openReceivers(2);
  const source = await openSource();
  const dead = await openSource();
  const D = `127.0.0.1:${dead.address().port}`;
  dead.close();
  const relay = startRelay(['--listen', '127.0.0.1:0', '--allow', `127.0.0.1:${source.address().port}`, '--to', `${rx.targets[0]},${rx.targets[1]}`,
    '--to', rx.targets[0], '--to', D, '--drop-unreachable', '--stats-interval', '0', '--zero-copy', '--buffers', '8', '--max-datagram', '100']);
  try {
    const port = await listening(relay);
    assert.match(relay.lines.out[0], /zero-copy always, allow 127\.0\.0\.1:\d+, 3 members \(1 duplicate ignored\)$/);
    await send(source, Buffer.alloc(101, 1), port); // longer than --max-datagram: dropped, counted
    await send(source, Buffer.alloc(100, 2), port);
    await rx.waitFor(2);
    assert.equal(rx.messages.map((list) => list.map((b) => b.length)), [[100], [100]]);
    await relay.line(new RegExp(`^dropped ${D}: port unreachable \\(ECONNREFUSED\\), 2 members$`));
    relay.child.kill('SIGHUP');
    await relay.line(new RegExp(`^SIGHUP: there is no --to-file to re-read; restored ${D}, 3 members$`));
    assert.equal(await relay.stop('SIGTERM'), { code: 0, signal: null }, relay.transcript());
    const total = await summary(relay);
    assert.equal([total.received, total.forwarded, total.truncated, total.sends, total.members, total.dropped], [2, 1, 1, 3, 3, 1]);
    assert.not.ok(relay.lines.out.some((line) => line.startsWith('status:')), relay.transcript());
  } finally {
    relay.kill();
    rx.close();
    source.close();
  }
});

let ipv6;
try {
  const probeSocket = dgram.createSocket('udp6');
  probeSocket.bind(0, '::1');
  probeSocket.close();
  ipv6 = fs.readFileSync('/proc/net/if_inet6', 'utf8').includes('00000000000000000000000000000001');
} catch {
  ipv6 = false;
}

testUnless(test, !ipv6 && 'no IPv6 loopback here', '92.cli IPv6')('--listen [::]:0 takes IPv4 and IPv6 sources and members', async () => {
  const rx4 = await openReceivers(1);
  const rx6 = await openReceivers(1, '::1');
  const source = await openSource();
  const relay = startRelay(['--listen', '[::]:0', '--allow', '127.0.0.1,::1', '--to', rx4.targets[0], '--to', rx6.targets[0], '--stats-interval', '0']);
  try {
    const [, port] = await relay.line(/^listening on \[::\]:(\d+), /);
    await send(source, 'v4 source', Number(port));
    await Promise.all([rx4.waitFor(1), rx6.waitFor(1)]);
    assert.equal([rx4.messages[0].map(String), rx6.messages[0].map(String)], [['v4 source'], ['v4 source']]);
    assert.equal(await relay.stop(), { code: 0, signal: null }, relay.transcript());
  } finally {
    relay.kill();
    rx4.close();
    rx6.close();
    source.close();
  }
});

test('npm run relay-demo (README\'s quick start) ends by itself with a passing verdict', () => {
  const result = spawnSync(process.execPath, [path.join(root, 'scripts', 'relay-demo.js')], { cwd: root, encoding: 'utf8', timeout: 60000 });
  assert.is(result.status, 0, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /^relay \| listening on 127\.0\.0\.1:\d+/m);
  assert.match(result.stdout, /^relay \| status: in /m);
  assert.match(result.stdout, /^relay \| reloaded /m);
  assert.match(result.stdout, /^relay \| total: received /m);
  assert.match(result.stdout, /^PASS: /m);
});

test.run();
