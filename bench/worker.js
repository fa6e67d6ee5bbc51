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
//   sg-threads   sg-copy with threads: 2 (sg-threads1: threads: 1);
//                sg-mmsg-threads: the sendmmsg backend with threads: 2
//
// job.window: calls in flight (default 1: each call awaited before the next).
//
// job.loopDelay: also the event loop's delay over the measured window
// (perf_hooks.monitorEventLoopDelay, sampled every millisecond). jsThread:
// the JavaScript thread's own CPU time and time waiting for a CPU
// (/proc/self/task/PID/schedstat).
'use strict';
const dgram = require('node:dgram');
const fs = require('node:fs');
const { monitorEventLoopDelay } = require('node:perf_hooks');

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
  // sg-threads, sg-threads1, sg-mmsg-threads: threads 2, 1, 2.
  const threaded = /^(sg(?:-mmsg)?)-threads(\d*)$/.exec(method);
  const name = threaded ? (threaded[1] === 'sg' ? 'sg-copy' : threaded[1]) : method;
  const base = gso ? name.slice('sg-gso'.length) : name.slice('sg'.length);
  const zeroCopy = { '-copy': false, '': false, '-zc': true, '-auto': 'auto', '-mmsg': false }[base];
  if (zeroCopy === undefined) throw new Error(`unknown method ${method}`);
  const options = { zeroCopy, backend: base === '-mmsg' ? 'sendmmsg' : 'auto' };
  if (threaded) options.threads = threaded[2] ? Number(threaded[2]) : 2;
  // job.bind (diagnosis only): e.g. { address: '0.0.0.0' } for an IPv4-only socket;
  // job.sender (diagnosis only): more Sender options, e.g. { queueDepth: 256 }.
  if (job.bind) options.bind = job.bind;
  Object.assign(options, job.sender);
  const sender = new Sender(options);
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

/** This (the JavaScript) thread's CPU time and time spent runnable but waiting for a CPU, in µs (schedstat). */
function jsThreadTimes() {
  try {
    const [run, wait] = fs.readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ').map(Number);
    return { cpuUs: run / 1e3, waitUs: wait / 1e3 };
  } catch {
    return null; // no CONFIG_SCHED_INFO
  }
}

/** Cores busy between two systemJiffies(), per CPU (each 0..1). */
function busyPerCpu(a, b) {
  return b.perCpu.map((x, i) => {
    const total = x.total - a.perCpu[i].total;
    return total > 0 ? Math.round(((x.busy - a.perCpu[i].busy) / total) * 100) / 100 : 0;
  });
}

/** window calls of one() at once (window 1: one()). */
function inFlight(one, window) {
  if (window <= 1) return one;
  return () => Promise.all(Array.from({ length: window }, one));
}

/** Calls until warmup seconds have passed; returns how many. */
async function warmUp(call, window) {
  const warmStart = process.hrtime.bigint();
  let warmupCalls = 0;
  do {
    await call();
    warmupCalls += window;
  } while (Number(process.hrtime.bigint() - warmStart) / 1e9 < warmup);
  stats.errors = 0;
  stats.firstError = '';
  stats.zeroCopy.clear();
  return warmupCalls;
}

/** The measured window: calls until duration has passed (at least minCalls), with what the machine did meanwhile. */
async function measure(call, window) {
  const histogram = job.loopDelay ? monitorEventLoopDelay({ resolution: 1 }) : null;
  histogram?.enable();
  const before = { sys: systemJiffies(), js: jsThreadTimes(), cpu: process.cpuUsage(), t: process.hrtime.bigint() };
  let calls = 0;
  let wallUs;
  do {
    await call();
    calls += window;
    wallUs = Number(process.hrtime.bigint() - before.t) / 1e3;
  } while (wallUs < duration * 1e6 || calls < minCalls);
  const after = { cpu: process.cpuUsage(before.cpu), t: process.hrtime.bigint(), sys: systemJiffies(), js: jsThreadTimes() };
  histogram?.disable();
  return { calls, wallUs, before, after, histogram };
}

/** The JSON line of a run. */
function resultOf({ calls, wallUs, before, after, histogram }, warmupCalls) {
  const { cpu, sys: sys1 } = after;
  const sys0 = before.sys;
  const busyCores = sys1.total > sys0.total ? ((sys1.busy - sys0.busy) / (sys1.total - sys0.total)) * require('node:os').cpus().length : 0;
  const result = {
    method, members: targets.length, payload: payloadBytes, segment, calls,
    datagrams: calls * targets.length * perMember,
    userUs: cpu.user, sysUs: cpu.system, cpuUs: cpu.user + cpu.system, wallUs: Math.round(wallUs),
    errors: stats.errors, firstError: stats.firstError, zeroCopy: stats.zeroCopy.size ? [...stats.zeroCopy].join('+') : 'off',
    warmupCalls,
    rssMb: Math.round(process.memoryUsage.rss() / 1048576),
    // CPU the rest of the machine used meanwhile, in cores (ksoftirqd doing
    // our softirqs counts here too): above ~0.25 the run is flagged noisy.
    otherCores: Math.round((busyCores - (cpu.user + cpu.system) / wallUs) * 100) / 100,
    // The measured window on CLOCK_MONOTONIC (process.hrtime), for the link
    // sink's receivers to count what arrived in it.
    t0Ns: Number(before.t),
    t1Ns: Number(after.t),
    cpuBusy: busyPerCpu(sys0, sys1),
  };
  if (stats.features) result.features = stats.features;
  // The JavaScript thread alone (with threads: K the sending is elsewhere):
  // its CPU, and how long it was runnable but waited for a CPU.
  const { js: js0 } = before;
  const { js: js1 } = after;
  if (js0 && js1) result.jsThread = { cpuUs: Math.round(js1.cpuUs - js0.cpuUs), waitUs: Math.round(js1.waitUs - js0.waitUs) };
  if (histogram) {
    const ms = (ns) => Math.round(ns / 1e4) / 100;
    result.loopDelay = { samples: histogram.count, p50Ms: ms(histogram.percentile(50)), p99Ms: ms(histogram.percentile(99)),
      maxMs: ms(histogram.max), meanMs: ms(histogram.mean) };
  }
  return result;
}

async function main() {
  const window = job.window ?? 1;
  const call = inFlight(method === 'dgram' ? await setupDgram() : await setupSendgroup(), window);
  const warmupCalls = await warmUp(call, window);
  const result = resultOf(await measure(call, window), warmupCalls);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  // Sockets and the ring go with the process.
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
