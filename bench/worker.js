#!/usr/bin/env node
// One measurement of one JavaScript method, in a fresh process (bench/run.js
// starts one per method per round). Reads its job as JSON from argv[2],
// prints one JSON line with the datagrams sent and the CPU this process used
// (process.cpuUsage(): user + sys of every thread) and wall time spent, the
// measured window on CLOCK_MONOTONIC (t0Ns, t1Ns: the link sink counts what
// its receivers got in it) and how busy each CPU was meanwhile (cpuBusy).
//
// Methods (one call = the scenario's payload to every member):
//   dgram        socket.send(payload, port, address, cb) per member and
//                datagram: what a Node user writes today. The call awaits
//                every callback, so a full send buffer (libuv queues the
//                sends and waits for POLLOUT) holds the next call back
//   sg-copy      Sender({ zeroCopy: false }).sendGroup(group, payload);
//                with a segment size (burst), one sendGroup per 1,200-B
//                slice of the frame, all in flight together
//   sg-zc        the same with zeroCopy: true
//   sg-auto      the same with zeroCopy: 'auto' (the library's default)
//   sg-mmsg      sg-copy on the sendmmsg backend (where io_uring is blocked)
//   sg-gso       one sendGroup(group, frame, { segmentSize }) per call,
//                zeroCopy false; sg-gso-zc / sg-gso-auto: true / 'auto'
'use strict';
const dgram = require('node:dgram');
const fs = require('node:fs');

const job = JSON.parse(process.argv[2]);
const { method, targetsFile, payload: payloadBytes, segment = 0 } = job;
const duration = job.duration ?? 1;
const warmup = job.warmup ?? 0.2;
const minCalls = job.minCalls ?? 3;

const targets = fs.readFileSync(targetsFile, 'utf8').trim().split('\n').map((line) => {
  const [address, port] = line.split(' ');
  return { address, port: Number(port) };
});
const payload = Buffer.alloc(payloadBytes);
for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
// The frame cut the way a user cuts it: views, no copies.
const slices = [];
if (segment) for (let off = 0; off < payload.length; off += segment) slices.push(payload.subarray(off, off + segment));
const gso = method.startsWith('sg-gso');
const perMember = segment ? Math.ceil(payloadBytes / segment) : 1;

const stats = { errors: 0, firstError: '', zeroCopy: new Set() };
function noteError(code, count = 1) {
  if (!stats.errors) stats.firstError = code;
  stats.errors += count;
}

async function setupDgram() {
  const socket = dgram.createSocket('udp4');
  await new Promise((resolve) => socket.bind(0, resolve));
  const parts = slices.length ? slices : [payload];
  const total = targets.length * parts.length;
  let left = 0;
  let done;
  const onSent = (error) => {
    if (error) noteError(error.code);
    if (--left === 0) done();
  };
  return () => new Promise((resolve) => {
    left = total;
    done = resolve;
    for (let m = 0; m < targets.length; m++) {
      const { address, port } = targets[m];
      for (let s = 0; s < parts.length; s++) socket.send(parts[s], port, address, onSent);
    }
  });
}

async function setupSendgroup() {
  // eslint-disable-next-line global-require
  // job.lib: the run's frozen copy of the library (bench/lib/snapshot.js).
  const { Group, Sender } = require(job.lib ?? '..');
  const group = new Group();
  for (const { address, port } of targets) group.add(address, port);
  const base = gso ? method.slice('sg-gso'.length) : method.slice('sg'.length);
  const zeroCopy = { '-copy': false, '': false, '-zc': true, '-auto': 'auto', '-mmsg': false }[base];
  if (zeroCopy === undefined) throw new Error(`unknown method ${method}`);
  const backend = base === '-mmsg' ? 'sendmmsg' : 'auto';
  // job.bind (diagnosis only): e.g. { address: '0.0.0.0' } for an IPv4-only socket.
  const sender = new Sender(job.bind ? { zeroCopy, backend, bind: job.bind } : { zeroCopy, backend });
  stats.features = sender.features;
  const note = (report) => {
    stats.zeroCopy.add(report.zeroCopy);
    if (report.failed) noteError(report.errors[0]?.code ?? 'failed', report.failed);
  };
  if (gso) {
    const options = { segmentSize: segment };
    return () => sender.sendGroup(group, payload, options).then(note);
  }
  if (slices.length) {
    return async () => {
      const reports = await Promise.all(slices.map((slice) => sender.sendGroup(group, slice)));
      reports.forEach(note);
    };
  }
  return () => sender.sendGroup(group, payload).then(note);
}

// Busy and total jiffies of all CPUs (and of each: perCpu): how busy the
// rest of the machine was.
function systemJiffies() {
  const lines = fs.readFileSync('/proc/stat', 'utf8').split('\n').filter((line) => line.startsWith('cpu'));
  const [all, ...perCpu] = lines.map((line) => {
    const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    return { busy: total - v[3] - v[4], total };
  });
  return { ...all, perCpu };
}

/** Cores busy between two systemJiffies(), per CPU (each 0..1). */
function busyPerCpu(a, b) {
  return b.perCpu.map((x, i) => {
    const total = x.total - a.perCpu[i].total;
    return total > 0 ? Math.round(((x.busy - a.perCpu[i].busy) / total) * 100) / 100 : 0;
  });
}

async function main() {
  const call = method === 'dgram' ? await setupDgram() : await setupSendgroup();
  const warmStart = process.hrtime.bigint();
  let warmupCalls = 0;
  do {
    await call();
    warmupCalls++;
  } while (Number(process.hrtime.bigint() - warmStart) / 1e9 < warmup);
  stats.errors = 0;
  stats.firstError = '';
  stats.zeroCopy.clear();

  const sys0 = systemJiffies();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let calls = 0;
  let wallUs;
  do {
    await call();
    calls++;
    wallUs = Number(process.hrtime.bigint() - t0) / 1e3;
  } while (wallUs < duration * 1e6 || calls < minCalls);
  const cpu = process.cpuUsage(cpu0);
  const t1 = process.hrtime.bigint();
  const sys1 = systemJiffies();
  const busyCores = sys1.total > sys0.total ? ((sys1.busy - sys0.busy) / (sys1.total - sys0.total)) * require('node:os').cpus().length : 0;
  const result = {
    method,
    members: targets.length,
    payload: payloadBytes,
    segment,
    calls,
    datagrams: calls * targets.length * perMember,
    userUs: cpu.user,
    sysUs: cpu.system,
    cpuUs: cpu.user + cpu.system,
    wallUs: Math.round(wallUs),
    errors: stats.errors,
    firstError: stats.firstError,
    zeroCopy: stats.zeroCopy.size ? [...stats.zeroCopy].join('+') : 'off',
    warmupCalls,
    rssMb: Math.round(process.memoryUsage.rss() / 1048576),
    // CPU the rest of the machine used meanwhile, in cores (ksoftirqd doing
    // our softirqs counts here too): above ~0.25 the run is flagged noisy.
    otherCores: Math.round((busyCores - (cpu.user + cpu.system) / wallUs) * 100) / 100,
    // The measured window on CLOCK_MONOTONIC (process.hrtime), for the link
    // sink's receivers to count what arrived in it.
    t0Ns: Number(t0),
    t1Ns: Number(t1),
    cpuBusy: busyPerCpu(sys0, sys1),
  };
  if (stats.features) result.features = stats.features;
  process.stdout.write(`${JSON.stringify(result)}\n`);
  // Sockets and the ring go with the process.
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
