// Shared test fixtures: real UDP receivers on loopback that record every
// datagram, and a way to wait for an expected count without timing guesses
// (the deadline only turns a hang into a failure).
'use strict';
const { execFileSync } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const path = require('node:path');

const DEADLINE_MS = 20000;

function targetOf(socket) {
  const { address, port, family } = socket.address();
  return family === 'IPv6' ? `[${address}]:${port}` : `${address}:${port}`;
}

/** count sockets bound to host:0; messages[i] holds what socket i received. */
async function openReceivers(count, host = '127.0.0.1') {
  const type = host.includes(':') ? 'udp6' : 'udp4';
  const sockets = [];
  const messages = [];
  let total = 0;
  let waiter;
  for (let i = 0; i < count; i++) {
    const socket = dgram.createSocket({ type, recvBufferSize: 1 << 20 });
    await new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, resolve);
    });
    messages.push([]);
    socket.on('message', (message, rinfo) => {
      messages[i].push(message);
      messages[i].rinfo = rinfo;
      total++;
      if (waiter && total >= waiter.expected) waiter.resolve();
    });
    sockets.push(socket);
  }
  return {
    sockets,
    messages,
    targets: sockets.map(targetOf),
    get total() { return total; },
    /** Resolves once `expected` datagrams in all have arrived. */
    waitFor(expected) {
      if (total >= expected) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${total} of ${expected} datagrams arrived`)), DEADLINE_MS);
        waiter = { expected, resolve: () => { clearTimeout(timer); waiter = undefined; resolve(); } };
      });
    },
    reset() {
      messages.forEach((list) => { list.length = 0; });
      total = 0;
    },
    close() {
      sockets.forEach((socket) => socket.close());
    },
  };
}

/** Asserts a call rejects (or throws) an error of the given class and code. */
async function rejectsWith(fn, ErrorClass, code, assert) {
  let caught;
  try {
    await fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught, `expected ${ErrorClass.name} ${code}, nothing was thrown`);
  assert.instance(caught, ErrorClass, `${caught && caught.message}`);
  assert.is(caught.code, code, caught.message);
  return caught;
}

/** A xorshift32 sequence from seed (0: a fixed one): next() gives the next state. */
function xorshift(seed) {
  let x = (seed | 0) || 0x2545f491;
  return () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return x;
  };
}

/** Fills bytes with a xorshift sequence from seed: distinct, reproducible content. */
function fill(bytes, seed) {
  const next = xorshift(seed);
  for (let i = 0; i < bytes.length; i++) bytes[i] = next() & 0xff;
  return bytes;
}

/** The same shuffle for the same seed (Fisher-Yates over fill's sequence), in place. */
function shuffle(list, seed) {
  const next = xorshift(seed);
  for (let i = list.length - 1; i > 0; i--) {
    const j = (next() >>> 0) % (i + 1);
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
}

/**
 * `test`, or `test.skip` when `reason` says why the test cannot run here: uvu
 * then counts it as skipped, never as passed. The reason is printed once.
 */
function testUnless(test, reason, label) {
  if (!reason) return test;
  console.warn(`\n  SKIP ${label}: ${reason}`);
  return test.skip;
}

/** Calls onLine with each whole line `readable` gives (as UTF-8), in order. */
function onLines(readable, onLine) {
  let buffered = '';
  readable.setEncoding('utf8').on('data', (chunk) => {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      onLine(line);
    }
  });
}

/**
 * test/launcher/NAME built from NAME.c when missing or older than its source
 * (not in build/: node-gyp rebuild wipes that); returns its path.
 */
function launcher(name) {
  const source = path.join(__dirname, 'launcher', `${name}.c`);
  const binary = path.join(__dirname, 'launcher', name);
  if (!fs.existsSync(binary) || fs.statSync(binary).mtimeMs < fs.statSync(source).mtimeMs) {
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-o', binary, source], { stdio: 'inherit' });
  }
  return binary;
}

/**
 * A private network namespace (unshare --net) set up by the shell commands
 * `setup`, fresh for each run: `missing` says why none can be had here, and
 * run(file, args) runs node [nodeArgs] FILE ARGS in one and returns the
 * JSON of its last output line.
 */
function privateNetwork(setup, { nodeArgs = [], timeout = 60000 } = {}) {
  let missing;
  if (process.getuid() !== 0) missing = 'not root';
  else {
    try {
      execFileSync('unshare', ['--net', 'sh', '-c', setup], { stdio: 'ignore' });
    } catch {
      missing = `needs unshare and what this runs: ${setup}`;
    }
  }
  const run = (file, args = []) => {
    const out = execFileSync('unshare', ['--net', 'sh', '-c', `${setup} && exec "$@"`, 'sh', process.execPath, ...nodeArgs, file, ...args],
      { encoding: 'utf8', timeout });
    return JSON.parse(out.trim().split('\n').pop());
  };
  return { missing, run };
}

module.exports = { fill, launcher, onLines, openReceivers, privateNetwork, rejectsWith, shuffle, targetOf, testUnless };
