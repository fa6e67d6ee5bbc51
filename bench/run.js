#!/usr/bin/env node
// npm run bench [-- options]: CPU per delivered datagram, sendgroup against
// node:dgram (what a user writes instead) and against a C reference (the
// kernel limit); on the link sink also the goodput. See docs/benchmarks.md
// (and bench/results/link.md for the link sink) for how to read the output.
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const util = require('node:util');
const { SCENARIOS, QUICK, DESCRIPTIONS, datagramsPerCall } = require('./lib/scenarios');
const { summary, pairRatios, median } = require('./lib/stats');
const { buildReference } = require('./lib/reference');
const { LoopbackSink, VethSink } = require('./lib/sinks');
const { LinkSink } = require('./lib/link');
const { renderSvg, si } = require('./lib/svg');
const { fmt, rowNotes } = require('./lib/format');
const { snapshotLibrary, removeSnapshot } = require('./lib/snapshot');

const ROOT = path.join(__dirname, '..');
const WORKER = path.join(__dirname, 'worker.js');
const RESULTS = path.join(__dirname, 'results');
const SINKS = ['loopback', 'veth', 'veth-silent', 'link'];

const HELP = `usage: npm run bench [-- options]

  --quick               smoke run (~1-2 min): scenarios ${QUICK.join(',')}, loopback only
                        (stream-1g with --sink link), 3 rounds of 0.3 s (also: BENCH_QUICK=1)
  --scenario a,b        scenarios to run (default: all): ${SCENARIOS.map((s) => s.name).join(', ')}
  --sink a,b            ${SINKS.join(', ')} (default: all when root, else loopback).
                        link: a tbf (1 Gbit/s, 100 Mbit/s) with a real queue, receivers that read;
                        goodput and CPU per delivered datagram
  --method a,b          only these methods (dgram is always kept: it is the baseline)
  --rounds N            alternations A B A B ... per scenario (default 5, min 1)
  --duration S          measured seconds per run (default 0.8; the link scenarios 1.5)
  --warmup S            unmeasured seconds per run before measuring (default 0.2)
  --veth-mtu N          MTU of the veth pair (default 9000: 8192-B datagrams leave
                        unfragmented; p8192-mtu1500 always uses 1500; the link sink 1500)
  --out FILE            results JSON (default bench/results/latest.json; SVG next to it)
  --docs                also copy the chart to docs/benchmarks.svg
  --list                print scenarios and methods, then exit
`;

const OPTIONS = {
  quick: { type: 'boolean' },
  scenario: { type: 'string', multiple: true },
  scenarios: { type: 'string', multiple: true },
  sink: { type: 'string', multiple: true },
  sinks: { type: 'string', multiple: true },
  method: { type: 'string', multiple: true },
  methods: { type: 'string', multiple: true },
  rounds: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  'veth-mtu': { type: 'string' },
  out: { type: 'string' },
  docs: { type: 'boolean' },
  list: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

/** --x a,b --x c: ['a', 'b', 'c'] (also under the plural spelling), or undefined. */
function list(values, ...names) {
  const all = names.flatMap((name) => values[name] ?? []).flatMap((v) => v.split(',')).map((x) => x.trim()).filter(Boolean);
  return all.length ? all : undefined;
}

function number(text, name, parse = Number) {
  if (text === undefined) return undefined;
  const value = parse(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number, not ${text}`);
  return value;
}

/** The options; duration stays undefined unless given (scenarios may set their own, see scenarioDuration). */
function parseArgs(argv) {
  let values;
  try {
    ({ values } = util.parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new Error(`${error.message} (try --help)`);
  }
  const quick = values.quick || process.env.BENCH_QUICK === '1';
  return {
    quick,
    scenarios: list(values, 'scenario', 'scenarios'),
    sinks: list(values, 'sink', 'sinks'),
    methods: list(values, 'method', 'methods'),
    rounds: Math.max(1, number(values.rounds, 'rounds', (x) => parseInt(x, 10)) ?? (quick ? 3 : 5)),
    duration: number(values.duration, 'duration'),
    warmup: number(values.warmup, 'warmup') ?? (quick ? 0.1 : 0.2),
    vethMtu: number(values['veth-mtu'], 'veth-mtu', (x) => parseInt(x, 10)) ?? 9000,
    out: values.out ? path.resolve(values.out) : path.join(RESULTS, 'latest.json'),
    docs: Boolean(values.docs),
    list: Boolean(values.list),
    help: Boolean(values.help),
  };
}

/** Measured seconds per run: --duration, else the scenario's own (the link sink's are longer), else 0.8 (0.3 quick). */
function scenarioDuration(options, scenario) {
  return options.duration ?? (options.quick ? 0.3 : scenario.duration ?? 0.8);
}

// ------------------------------------------------------------------ runs --

const tty = process.stderr.isTTY;
let lastProgress = '';
function progress(text) {
  if (tty) {
    process.stderr.write(`\r\x1b[2K${text.slice(0, (process.stderr.columns || 120) - 1)}`);
  } else if (text !== lastProgress) {
    process.stderr.write(`${text}\n`);
  }
  lastProgress = text;
}
function clearProgress() {
  if (tty && lastProgress) process.stderr.write('\r\x1b[2K');
  lastProgress = '';
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------- quiet --
// CPU per datagram is only comparable when nothing else competes for the
// two cores (a busy neighbour shifts softirq and skb-freeing work between
// processes and inflates or deflates a run by 20%). Each run reports how many
// cores the rest of the machine used meanwhile (otherCores); before a run we
// wait (bounded) for the machine to be quiet, and a noisy run is repeated
// once.
const NOISY_CORES = 0.3;
// Budgets keep a full run bounded (~12 min at worst) on a machine that never gets quiet.
const noise = { waitedMs: 0, waitBudgetMs: 120000, retries: 0, retryBudget: 40, noisyRuns: 0, lastNoisy: true };

function systemJiffies() {
  const v = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - v[3] - v[4], total };
}

async function busyCores(ms) {
  const a = systemJiffies();
  await sleep(ms);
  const b = systemJiffies();
  return b.total > a.total ? ((b.busy - a.busy) / (b.total - a.total)) * os.cpus().length : 0;
}

async function waitForQuiet(label) {
  // Only after a noisy run (and before the first): a quiet machine costs nothing.
  if (!noise.lastNoisy || noise.waitedMs >= noise.waitBudgetMs) return;
  const start = Date.now();
  for (;;) {
    const busy = await busyCores(250);
    if (busy <= NOISY_CORES || noise.waitedMs + (Date.now() - start) >= noise.waitBudgetMs || Date.now() - start > 20000) break;
    progress(`${label} (waiting: the machine is busy, ${busy.toFixed(1)} cores in use by others)`);
    await sleep(750);
  }
  noise.waitedMs += Date.now() - start;
}

/** Starts one child, returns its parsed JSON line (or throws with its stderr). */
function runChild(command, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => { out += chunk; });
    child.stderr.on('data', (chunk) => { err += chunk; });
    const timer = setTimeout(() => {
      err += `\n(killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop();
      if (code === 0 && line) {
        try {
          resolve(JSON.parse(line));
          return;
        } catch { /* fall through */ }
      }
      const error = new Error(`${path.basename(args.find((x) => x.endsWith('.js') || x === 'send') ?? command)} exited ${code}: ${err.trim().split('\n').slice(0, 3).join(' | ')}`);
      error.stderr = err;
      reject(error);
    });
  });
}

/** The command line of one run: sgref send for C rows, else the worker; inside the sink's namespace. */
function methodCommand(ctx, sink, scenario, method, targetsFile) {
  const { options, sgref } = ctx;
  const duration = scenarioDuration(options, scenario);
  if (method.startsWith('c-')) {
    return sink.wrap(sgref, ['send', '--method', method.slice(2), '--targets', targetsFile, '--payload', String(scenario.payload),
      '--segment', String(scenario.segment ?? 0), '--duration', String(duration), '--warmup', String(options.warmup),
      ...(sink.pace ? ['--pace', sink.pace] : [])]);
  }
  return sink.wrap(process.execPath, [WORKER, JSON.stringify({ method, lib: ctx.lib.dir, targetsFile, payload: scenario.payload,
    segment: scenario.segment ?? 0, duration, warmup: options.warmup })]);
}

async function runMethod(ctx, sink, scenario, method, targetsFile) {
  const [command, args] = methodCommand(ctx, sink, scenario, method, targetsFile);
  const timeoutMs = (scenarioDuration(ctx.options, scenario) + ctx.options.warmup) * 1000 + 60000;
  // The link sink adds what its receivers got in the run's window.
  const once = async () => {
    const result = await runChild(command, args, timeoutMs);
    return sink.measure ? sink.measure(result) : result;
  };
  for (let attempt = 1; ; attempt++) {
    try {
      sink.check(scenario.members);
      await waitForQuiet(ctx.label);
      let result = await once();
      if (result.otherCores > NOISY_CORES && noise.retries < noise.retryBudget) {
        noise.retries++;
        noise.lastNoisy = true;
        progress(`${ctx.label} (repeating a noisy run: others used ${result.otherCores} cores)`);
        await waitForQuiet(ctx.label);
        const again = await once();
        if (again.otherCores < result.otherCores) result = again;
      }
      noise.lastNoisy = result.otherCores > NOISY_CORES;
      if (noise.lastNoisy) noise.noisyRuns++;
      return result;
    } catch (error) {
      // The addon may be rebuilt while we run (missing for a moment): wait.
      const rebuilding = /cannot load the native addon|Cannot find module/.test(error.stderr ?? '');
      if (attempt >= (rebuilding ? 6 : 2)) throw error;
      progress(`  retrying ${method} (${error.message.slice(0, 80)})`);
      await sleep(rebuilding ? 20000 : 2000);
    }
  }
}

/** The link sink's figures of a method's rounds: goodput (fraction of the rate), receivers' load, drops. */
function linkSummary(runs) {
  const links = runs.map((r) => r?.link);
  const sum = (key) => links.reduce((n, l) => n + (l?.[key] ?? 0), 0);
  return {
    goodputRounds: links.map((l) => l?.goodput ?? NaN),
    goodput: summary(links.map((l) => l?.goodput ?? NaN)),
    receiverCores: summary(links.map((l) => l?.receiverCores ?? NaN)),
    // µs of the sender's CPU per delivered datagram, whoever was charged (see link.js).
    cpuBusyUsPerDatagram: summary(links.map((l) => (l?.cpuBusyUs === undefined ? NaN : l.cpuBusyUs / l.datagrams))),
    waits: summary(runs.map((r) => (r?.waits === undefined ? NaN : r.waits / r.calls))),
    bounces: summary(links.map((l) => l?.bouncesPerDatagram ?? NaN)),
    drops: { receivers: sum('rcvbufErrors') + sum('inErrors'), qdisc: sum('qdiscDrops') },
  };
}

/** Aggregates the rounds of one scenario on one sink. */
function aggregate(scenario, sink, raw, duration) {
  const byName = new Map();
  for (const spec of scenario.methods) {
    const runs = raw.get(spec.name) ?? [];
    // On the link sink a datagram counts once delivered (in the run's window).
    const counted = (r) => (r.link ? r.link.datagrams : r.datagrams);
    const dpcs = runs.map((r) => (r ? counted(r) / (r.cpuUs / 1e6) : NaN));
    const wall = runs.map((r) => (r ? counted(r) / (r.wallUs / 1e6) : NaN));
    const zeroCopy = [...new Set(runs.filter(Boolean).map((r) => r.zeroCopy))];
    byName.set(spec.name, {
      name: spec.name,
      about: DESCRIPTIONS[spec.name],
      spec,
      dpcsRounds: dpcs,
      dpcs: summary(dpcs),
      usPerDatagram: 1e6 / median(dpcs),
      wall: summary(wall),
      ...(sink.measure ? linkSummary(runs) : {}),
      zeroCopy,
      errors: runs.reduce((n, r) => n + (r?.errors ?? 0), 0),
      firstError: runs.find((r) => r?.firstError)?.firstError ?? '',
      failedRuns: runs.filter((r) => !r).length,
      noisyRuns: runs.filter((r) => r?.otherCores > NOISY_CORES).length,
      runs,
    });
  }
  const dgram = byName.get('dgram');
  for (const row of byName.values()) {
    if (dgram) row.vsDgram = summary(pairRatios(row.dpcsRounds, dgram.dpcsRounds));
    const zc = row.zeroCopy.some((z) => z !== 'off');
    const candidates = (zc ? row.spec.refZc : row.spec.ref).map((n) => byName.get(n)).filter((r) => r && Number.isFinite(r.dpcs.median));
    const ref = candidates.sort((a, b) => b.dpcs.median - a.dpcs.median)[0];
    if (ref) row.vsC = { ref: ref.name, ...summary(pairRatios(row.dpcsRounds, ref.dpcsRounds)) };
  }
  return {
    sink: sink.name,
    name: scenario.name,
    about: scenario.about,
    members: scenario.members,
    payload: scenario.payload,
    segment: scenario.segment ?? 0,
    mtu: sink.mtu,
    linkRate: sink.measure ? sink.rate : undefined,
    duration,
    datagramsPerCall: datagramsPerCall(scenario),
    methods: [...byName.values()].map(({ spec, ...rest }) => rest),
  };
}

// ----------------------------------------------------------------- goals --

function find(results, sink, scenario) {
  return results.scenarios.find((s) => s.sink === sink && s.name === scenario);
}
function row(scn, name) {
  return scn?.methods.find((r) => r.name === name);
}
const range = (s, d = 2) => `${fmt(s?.median, d)} [${fmt(s?.min, d)}-${fmt(s?.max, d)}]`;

/** CPU per datagram of a over b, round by round (the inverse of the datagrams/CPU-s ratio). */
function cpuRatio(a, b) {
  return summary(pairRatios(b.dpcsRounds, a.dpcsRounds));
}

// The link sink: sendgroup keeps the link full (>= 0.95 of its rate) with no
// more CPU per delivered datagram than dgram, and at most 1.1x the C
// reference's (the fastest paced C row of its kind). Zero-copy: info only.
function linkGoals(results) {
  const out = [];
  for (const s of results.scenarios.filter((x) => x.linkRate)) {
    const dgram = row(s, 'dgram');
    for (const name of ['sg-copy', 'sg-mmsg', 'sg-zc']) {
      const r = row(s, name);
      if (!r) continue;
      const info = name === 'sg-zc';
      const add = (id, goal, met, measured) => out.push({ id: `link-${id}`, goal: `${s.name}: ${name} ${goal}`, sink: 'link', met: info ? null : met, measured });
      add('goodput', 'goodput >= 0.95 of the link rate', r.goodput.median >= 0.95, `${range(r.goodput)} (dgram ${fmt(dgram?.goodput.median)})`);
      if (dgram) {
        const vs = cpuRatio(r, dgram);
        add('cpu-vs-dgram', 'CPU per delivered datagram <= dgram\'s', vs.median <= 1,
          `${range(vs)} x dgram (${fmt(r.usPerDatagram)} vs ${fmt(dgram.usPerDatagram)} us)`);
      }
      const ref = r.vsC && row(s, r.vsC.ref);
      if (ref) {
        const vs = cpuRatio(r, ref);
        add('cpu-vs-c', 'CPU per delivered datagram <= 1.1x the C reference\'s', vs.median <= 1.1,
          `${range(vs)} x ${ref.name} (${fmt(r.usPerDatagram)} vs ${fmt(ref.usPerDatagram)} us)`);
      }
    }
  }
  return out;
}

function goals(results, autoMin) {
  const out = [];
  const add = (id, goal, sink, met, measured) => out.push({ id, goal, sink, met, measured });
  for (const sink of SINKS) {
    const n1000 = find(results, sink, 'n1000');
    const copy = row(n1000, 'sg-copy');
    if (copy?.vsC) {
      // Against the fastest C row (strict); each C row is listed too.
      const each = ['c-sendmmsg', 'c-uring', 'c-uring-send'].filter((n) => row(n1000, n))
        .map((n) => `${n} ${fmt(summary(pairRatios(copy.dpcsRounds, row(n1000, n).dpcsRounds)).median)}`).join(', ');
      add('copy-vs-c', 'N=1000, 1200 B, copy: sendgroup >= 0.95x the C reference', sink, copy.vsC.median >= 0.95,
        `${range(copy.vsC)} vs the fastest, ${copy.vsC.ref} (per row: ${each})`);
    }
    if (copy?.vsDgram) add('copy-vs-dgram', 'N=1000, 1200 B, copy: sendgroup >= 1.8x dgram', sink, copy.vsDgram.median >= 1.8, range(copy.vsDgram));
    const burst = find(results, sink, 'burst');
    const gso = row(burst, 'sg-gso');
    if (gso?.vsDgram) add('gso-vs-dgram', 'burst with GSO: sendgroup >= 8x dgram', sink, gso.vsDgram.median >= 8, range(gso.vsDgram));
    const p8192 = find(results, sink, 'p8192');
    const zc = row(p8192, 'sg-zc');
    const copy8 = row(p8192, 'sg-copy');
    if (zc && copy8) {
      const r = summary(pairRatios(zc.dpcsRounds, copy8.dpcsRounds));
      if (sink !== 'loopback') add('zc-vs-copy-8192', '8192 B on veth: zero-copy >= 1.2x copy', sink, r.median >= 1.2, range(r));
      else add('zc-vs-copy-8192-loopback', '(info) 8192 B on loopback: zero-copy vs copy', sink, null, range(r));
    }
    // auto: for each payload size measured with both modes, did 'auto' pick the faster?
    for (const [scn, a, b, bytes] of [['n1000', 'sg-zc', 'sg-copy', 1200], ['p2048', 'sg-zc', 'sg-copy', 2048],
      ['p4096', 'sg-zc', 'sg-copy', 4096], ['p8192', 'sg-zc', 'sg-copy', 8192],
      ['p8192-mtu1500', 'sg-zc', 'sg-copy', 8192], ['burst', 'sg-gso-zc', 'sg-gso', 48000]]) {
      const s = find(results, sink, scn);
      const zr = row(s, a);
      const cr = row(s, b);
      if (!zr || !cr) continue;
      const r = summary(pairRatios(zr.dpcsRounds, cr.dpcsRounds));
      const autoZc = bytes >= autoMin;
      // Within 5% either choice is as good as the other.
      const met = Math.abs(r.median - 1) <= 0.05 ? true : (r.median > 1) === autoZc;
      // The same ratio for the C reference: what the kernel itself gives.
      const cz = row(s, a.replace('sg-', 'c-uring-').replace('gso-zc', 'zc-gso'));
      const cc = row(s, 'c-uring-send') ?? row(s, b.replace('sg-', 'c-uring-'));
      const kernel = cz && cc ? `; C ${cz.name}/${cc.name} ${fmt(summary(pairRatios(cz.dpcsRounds, cc.dpcsRounds)).median)}` : '';
      add(`auto-${scn}`, `'auto' (zero-copy from ${autoMin} B) picks the faster mode at ${bytes} B${s.mtu ? ` (MTU ${s.mtu})` : ''}`, sink, met,
        `zc/copy ${range(r)}; auto picks ${autoZc ? 'zero-copy' : 'copy'}${kernel}`);
    }
  }
  out.push(...linkGoals(results));
  const n1 = find(results, 'loopback', 'n1');
  const one = row(n1, 'sg-copy');
  if (one?.vsDgram) add('n1-vs-dgram', 'N=1: one sendGroup costs no more CPU than one dgram.send', 'loopback', one.vsDgram.median >= 1, `${range(one.vsDgram)} x dgram (us/datagram: ${fmt(one.usPerDatagram)} vs ${fmt(row(n1, 'dgram').usPerDatagram)})`);
  for (const sink of SINKS) {
    const big = find(results, sink, 'n10000');
    const mid = find(results, sink, 'n1000');
    const sgBig = row(big, 'sg-copy');
    const sgMid = row(mid, 'sg-copy');
    if (!sgBig || !sgMid) continue;
    const r = sgBig.usPerDatagram / sgMid.usPerDatagram;
    // The same ratio for the kernel limit tells the sink's scaling from ours.
    const cr = ['c-sendmmsg', 'c-uring'].map((n) => `${n} ${fmt(row(big, n)?.usPerDatagram / row(mid, n)?.usPerDatagram)}x`).join(', ');
    add('n10000-vs-n1000', 'N=10000 costs no more per datagram than N=1000 (within 10%)', sink, r <= 1.1,
      `${fmt(sgBig.usPerDatagram)} vs ${fmt(sgMid.usPerDatagram)} us/datagram (${fmt(r)}x; same ratio for ${cr})`);
  }
  return out;
}

// ----------------------------------------------------------------- table --

function pad(text, width, right = false) {
  const s = String(text);
  return right ? s.padStart(width) : s.padEnd(width);
}

function printTable(results) {
  const lines = [];
  for (const s of results.scenarios) {
    const link = Boolean(s.linkRate);
    lines.push('');
    lines.push(`== ${s.sink}${s.mtu ? ` (MTU ${s.mtu})` : ''}${link ? ` at ${s.linkRate}` : ''} / ${s.name}: ${s.members} member(s), `
      + `${s.payload} B${s.segment ? ` cut into ${s.segment} B` : ''} (${s.datagramsPerCall} datagrams per call)`);
    const w = link ? 40 : 32;
    lines.push(`${pad('method', 15)}${pad(`${link ? 'delivered ' : ''}dgram/CPU-s median [min-max]`, w)}${pad('us/dgram', 9, true)}  `
      + `${pad(link ? 'goodput [min-max]' : 'wall dgram/s', link ? 20 : 12, !link)}  ${pad('x dgram [min-max]', 20)}${pad('x C [min-max] (ref)', 36)}notes`);
    for (const r of s.methods) {
      lines.push(`${pad(r.name, 15)}${pad(`${si(r.dpcs.median)} [${si(r.dpcs.min)}-${si(r.dpcs.max)}]`, w)}`
        + `${pad(fmt(r.usPerDatagram), 9, true)}  ${link ? pad(range(r.goodput), 20) : pad(si(r.wall.median), 12, true)}  `
        + `${pad(r.name === 'dgram' ? '1' : range(r.vsDgram), 20)}`
        + `${pad(r.vsC ? `${range(r.vsC)} (${r.vsC.ref})` : '', 36)}${rowNotes(r).join('; ')}`);
    }
  }
  lines.push('');
  lines.push('== goals');
  for (const g of results.goals) {
    const mark = g.met === null ? 'info' : g.met ? 'MET ' : 'MISS';
    lines.push(`${mark}  [${g.sink}] ${g.goal}: ${g.measured}`);
  }
  lines.push(`noise: waited ${results.noise.waitedSeconds} s for a quiet machine, repeated ${results.noise.repeatedRuns} noisy runs, `
    + `${results.noise.noisyRunsKept} runs still noisy (others > ${NOISY_CORES} cores)`);
  for (const [name, st] of Object.entries(results.sinkStats)) if (Object.keys(st).length) lines.push(`${name} sink: ${JSON.stringify(st)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

// ------------------------------------------------------------------ main --

function makeSink(name, { sgref, tmp, options }) {
  if (name === 'loopback') return new LoopbackSink(sgref, tmp);
  if (name === 'link') return new LinkSink(sgref, tmp);
  return new VethSink(tmp, { name, mtu: options.vethMtu, drop: name === 'veth-silent' ? 'silent' : 'error' });
}

function machine() {
  const cpus = os.cpus();
  let liburing = '';
  try {
    liburing = execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'liburing-dev'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch { /* not Debian */ }
  let commit = '';
  try {
    commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch { /* not a checkout */ }
  let dirty = '';
  try {
    dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'lib', 'native', 'binding.gyp'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trimEnd().split('\n').filter(Boolean).map((l) => l.slice(3)).join(' ');
  } catch { /* not a checkout */ }
  let addonMtime = '';
  try {
    addonMtime = fs.statSync(path.join(ROOT, 'build', 'Release', 'sendgroup.node')).mtime.toISOString();
  } catch { /* not built */ }
  return { cpu: cpus[0]?.model.trim(), cores: cpus.length, memoryGb: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(),
    node: process.versions.node, liburing, commit,
    uncommittedLibraryChanges: dirty, addonMtime };
}

async function main() {
  // `npm run bench -- --list | head` closes our stdout early: not an error.
  process.stdout.on('error', (error) => { if (error.code === 'EPIPE') process.exit(0); throw error; });
  const options = parseArgs(process.argv.slice(2));
  if (options.help) {
    process.stdout.write(HELP);
    return;
  }
  if (options.list) {
    for (const s of SCENARIOS) {
      process.stdout.write(`${s.name.padEnd(12)} ${s.members} x ${s.payload} B${s.segment ? `/${s.segment}` : ''} [${s.sinks.join(', ')}]: ${s.about}\n`
        + `             ${s.methods.map((x) => x.name).join(', ')}\n`);
    }
    for (const [k, v] of Object.entries(DESCRIPTIONS)) process.stdout.write(`${k.padEnd(16)}${v}\n`);
    return;
  }
  const known = new Set(SCENARIOS.map((s) => s.name));
  for (const n of options.scenarios ?? []) if (!known.has(n)) throw new Error(`unknown scenario ${n} (known: ${[...known].join(', ')})`);
  const wanted = options.scenarios ?? (options.quick ? QUICK : SCENARIOS.map((s) => s.name));
  const vethWhy = VethSink.available();
  let sinks = options.sinks ?? (options.quick || vethWhy ? ['loopback'] : SINKS);
  for (const s of sinks) if (!SINKS.includes(s)) throw new Error(`unknown sink ${s} (known: ${SINKS.join(', ')})`);
  if (sinks.some((s) => s !== 'loopback') && vethWhy) {
    process.stderr.write(`veth and link sinks skipped: ${vethWhy}\n`);
    sinks = sinks.filter((s) => s === 'loopback');
  }

  // One frozen copy of the library for the whole run (see lib/snapshot.js).
  const lib = await snapshotLibrary({ log: (text) => process.stderr.write(`${text}\n`) });
  const sgref = buildReference();

  const plan = [];
  for (const sinkName of sinks) {
    for (const s of SCENARIOS) {
      if (!wanted.includes(s.name) || !s.sinks.includes(sinkName)) continue;
      const methods = s.methods.filter((x) => !options.methods || x.name === 'dgram' || options.methods.includes(x.name));
      plan.push({ sinkName, scenario: { ...s, methods } });
    }
  }
  if (!plan.length) throw new Error('nothing to run: no selected scenario runs on the selected sinks');
  const totalRuns = plan.reduce((n, p) => n + p.scenario.methods.length * options.rounds, 0);

  // Seconds measured per run: '0.8', or '0.8 or 1.5' with the link scenarios.
  const durations = [...new Set(plan.map((p) => scenarioDuration(options, p.scenario)))].join(' or ');

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sgbench-'));
  const open = [];
  const cleanup = () => {
    for (const sink of open.splice(0)) sink.close();
    fs.rmSync(tmp, { recursive: true, force: true });
    removeSnapshot(lib);
  };
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      clearProgress();
      process.stderr.write(`\n${signal}: cleaning up\n`);
      cleanup();
      process.exit(130);
    });
  }

  const results = {
    startedAt: new Date().toISOString(),
    machine: machine(),
    library: { addon: lib.addon, addonSha256: lib.addonSha256, addonBuiltAt: lib.addonBuiltAt },
    features: lib.probe,
    autoZeroCopyMinBytes: lib.auto,
    options: { quick: options.quick, rounds: options.rounds, duration: durations, warmup: options.warmup, sinks,
      scenarios: [...new Set(plan.map((p) => p.scenario.name))], vethMtu: sinks.length > 1 ? options.vethMtu : undefined },
    scenarios: [],
    sinkStats: {},
  };
  process.stderr.write(`sendgroup bench: ${plan.length} scenario/sink pairs, ${totalRuns} runs of ${durations} s `
    + `(+${options.warmup} s warm-up) each, ${options.rounds} rounds; sinks: ${sinks.join(', ')}\n`);

  if (options.quick) Object.assign(noise, { waitBudgetMs: 30000, retryBudget: 10 });
  const ctx = { options, sgref, lib };
  const started = Date.now();
  let done = 0;
  let sink = null;
  for (const { sinkName, scenario } of plan) {
    if (!sink || sink.name !== sinkName) {
      if (sink) {
        if (sink.stats) results.sinkStats[sink.name] = sink.stats();
        sink.close();
        open.splice(open.indexOf(sink), 1);
      }
      sink = makeSink(sinkName, { sgref, tmp, options });
      open.push(sink);
      if (sink.setup) sink.setup();
    }
    if (sink.configure) sink.configure(scenario, options);
    const targetsFile = await sink.targets(scenario.members);
    const raw = new Map(scenario.methods.map((x) => [x.name, []]));
    for (let round = 0; round < options.rounds; round++) {
      // A B C ... each round, starting one further along each time, so no
      // method always runs first (or right after the same neighbour).
      const order = scenario.methods.map((_, i) => scenario.methods[(i + round) % scenario.methods.length]);
      for (const { name } of order) {
        const elapsed = (Date.now() - started) / 1000;
        const eta = done ? (elapsed / done) * (totalRuns - done) : NaN;
        progress(`[${String(done + 1).padStart(String(totalRuns).length)}/${totalRuns}] ${sinkName}/${scenario.name} `
          + `round ${round + 1}/${options.rounds} ${name.padEnd(14)} elapsed ${Math.round(elapsed)} s`
          + `${Number.isFinite(eta) ? `, ~${Math.round(eta)} s left` : ''}`);
        let result = null;
        ctx.label = lastProgress;
        try {
          result = await runMethod(ctx, sink, scenario, name, targetsFile);
        } catch (error) {
          clearProgress();
          process.stderr.write(`  ${sinkName}/${scenario.name} ${name} round ${round + 1} failed: ${error.message}\n`);
        }
        raw.get(name).push(result);
        done++;
      }
    }
    results.scenarios.push(aggregate(scenario, sink, raw, scenarioDuration(options, scenario)));
  }
  if (sink?.stats) results.sinkStats[sink.name] = sink.stats();
  cleanup();
  clearProgress();

  results.finishedAt = new Date().toISOString();
  results.seconds = Math.round((Date.now() - started) / 1000);
  results.noise = { noisyCoresThreshold: NOISY_CORES, waitedSeconds: Math.round(noise.waitedMs / 1000), repeatedRuns: noise.retries,
    noisyRunsKept: noise.noisyRuns };
  results.goals = goals(results, lib.auto);
  printTable(results);

  fs.mkdirSync(path.dirname(options.out), { recursive: true });
  fs.writeFileSync(options.out, `${JSON.stringify(results, null, 1)}\n`);
  const svgFile = options.out.replace(/\.json$/, '') + '.svg';
  const svg = renderSvg(results);
  fs.writeFileSync(svgFile, svg);
  if (options.docs) fs.writeFileSync(path.join(ROOT, 'docs', 'benchmarks.svg'), svg);
  process.stdout.write(`\nwrote ${path.relative(process.cwd(), options.out)} and ${path.relative(process.cwd(), svgFile)}`
    + `${options.docs ? ' and docs/benchmarks.svg' : ''} (${results.seconds} s)\n`);
}

main().catch((error) => {
  clearProgress();
  process.stderr.write(`bench: ${error.stack || error.message}\n`);
  process.exit(1);
});
