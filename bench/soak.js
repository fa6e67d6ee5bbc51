#!/usr/bin/env node
// npm run bench:soak [-- --calls N --members M --max-seconds S]
// 10^6 consecutive sendGroup calls to a small loopback group (a separate,
// non-reading sink process), cycling through the kinds of send (copy,
// zero-copy, GSO, per-member prefix/suffix, 'auto' above its threshold), and
// the process's RSS before and after. Goal: RSS grows by less than 10 MB.
// Stops after --max-seconds even if the calls are not all done.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const v8 = require('node:v8');
const vm = require('node:vm');
const { buildReference } = require('./lib/reference');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? Number(process.argv[i + 1]) : fallback;
}
const CALLS = option('--calls', 1e6);
const MEMBERS = option('--members', 4);
const MAX_SECONDS = option('--max-seconds', 300);
const WARMUP = Math.min(20000, Math.floor(CALLS / 10));
const LIMIT_MB = 10;

const mb = (bytes) => (bytes / 1048576).toFixed(1);
function rss() {
  gc();
  gc();
  return process.memoryUsage.rss();
}

async function startSink(sgref, dir) {
  const file = path.join(dir, 'soak-targets.txt');
  const child = spawn(sgref, ['sink', '--count', String(MEMBERS), '--out', file], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => { if (String(chunk).includes('ready')) resolve(); });
    child.on('exit', (code) => reject(new Error(`sink exited ${code}`)));
  });
  const targets = fs.readFileSync(file, 'utf8').trim().split('\n').map((line) => {
    const [address, port] = line.split(' ');
    if (!/^127\./.test(address)) throw new Error(`refusing to send to ${address}`);
    return { address, port: Number(port) };
  });
  return { child, targets };
}

async function main() {
  // eslint-disable-next-line global-require
  const { Group, Sender, AUTO_ZERO_COPY_MIN_BYTES } = require('..');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sgsoak-'));
  const sink = await startSink(buildReference({ quiet: true }), dir);
  const stop = () => {
    if (sink.child.exitCode === null) sink.child.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', stop);

  const group = new Group(sink.targets);
  const sender = new Sender();
  const small = Buffer.alloc(200, 1);
  const big = Buffer.alloc(AUTO_ZERO_COPY_MIN_BYTES + 192, 2);
  const frame = Buffer.alloc(4800, 3);
  const prefix = sink.targets.map((_, i) => Buffer.from(`member-${i}:`));
  const suffix = { data: Buffer.alloc(4 * MEMBERS, 4), stride: 4 };
  const kinds = [
    ['copy 200 B', () => sender.sendGroup(group, small, { zeroCopy: false })],
    ['zero-copy 200 B', () => sender.sendGroup(group, small, { zeroCopy: true })],
    ['GSO 4800/1200 B', () => sender.sendGroup(group, frame, { segmentSize: 1200 })],
    ['prefix+suffix', () => sender.sendGroup(group, small, { prefix, suffix })],
    [`auto ${big.length} B`, () => sender.sendGroup(group, big)],
  ];
  const failures = new Map();
  let unexpected = 0;
  const run = async (count, deadline) => {
    for (let i = 0; i < count; i++) {
      const report = await kinds[i % kinds.length][1]();
      if (report.sent + report.failed !== MEMBERS) unexpected++;
      for (const e of report.errors) failures.set(e.code, (failures.get(e.code) ?? 0) + 1);
      if ((i & 1023) === 0 && Date.now() > deadline) return i + 1;
    }
    return count;
  };

  const start = Date.now();
  const deadline = start + MAX_SECONDS * 1000;
  const rss0 = rss();
  await run(WARMUP, deadline);
  const rssStart = rss();
  process.stdout.write(`soak: ${CALLS} sendGroup calls to ${MEMBERS} loopback members, cycling ${kinds.map((k) => k[0]).join(', ')}\n`);
  process.stdout.write(`RSS at launch ${mb(rss0)} MB, after ${WARMUP} warm-up calls (start) ${mb(rssStart)} MB\n`);
  const step = Math.max(1, Math.floor(CALLS / 10));
  let done = 0;
  const t0 = Date.now();
  while (done < CALLS && Date.now() < deadline) {
    done += await run(Math.min(step, CALLS - done), deadline);
    process.stdout.write(`  ${String(done).padStart(String(CALLS).length)} calls, ${((Date.now() - t0) / 1000).toFixed(1)} s, RSS ${mb(rss())} MB\n`);
  }
  const rssEnd = rss();
  const seconds = (Date.now() - t0) / 1000;
  await sender.close();
  const growth = (rssEnd - rssStart) / 1048576;
  const complete = done >= CALLS;
  process.stdout.write(`RSS start ${mb(rssStart)} MB, end ${mb(rssEnd)} MB: grew ${growth.toFixed(1)} MB over ${done} calls `
    + `in ${seconds.toFixed(1)} s (${(seconds * 1e6 / done).toFixed(1)} us per call)\n`);
  if (failures.size) process.stdout.write(`member failures: ${JSON.stringify(Object.fromEntries(failures))}\n`);
  if (unexpected) process.stdout.write(`${unexpected} reports did not add up to ${MEMBERS} members\n`);
  const met = complete && growth < LIMIT_MB && !unexpected;
  process.stdout.write(`${met ? 'MET ' : 'MISS'}  RSS growth < ${LIMIT_MB} MB over ${CALLS} calls`
    + `${complete ? '' : ` (stopped after ${MAX_SECONDS} s with ${done} calls done)`}\n`);
  stop();
  process.exitCode = met ? 0 : 1;
}

main().catch((error) => {
  process.stderr.write(`soak: ${error.stack || error}\n`);
  process.exit(2);
});
