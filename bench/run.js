#!/usr/bin/env node
// npm run bench [-- options]: CPU per delivered datagram, sendgroup against
// node:dgram (what a user writes instead) and against a C reference (the
// kernel limit); on the link sink also the goodput; with threads also the
// wall rate and the event loop's delay. See docs/benchmarks.md for how to
// read the output.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { SCENARIOS, QUICK, DESCRIPTIONS } = require('./lib/scenarios');
const { HELP, SINKS, parseArgs, scenarioDuration } = require('./lib/options');
const { buildReference } = require('./lib/reference');
const { LoopbackSink, VethSink } = require('./lib/sinks');
const { LinkSink } = require('./lib/link');
const { renderSvg } = require('./lib/svg');
const { snapshotLibrary, removeSnapshot } = require('./lib/snapshot');
const { progress, clearProgress, currentProgress } = require('./lib/progress');
const { setBudgets, noiseSummary } = require('./lib/noise');
const { runMethod } = require('./lib/runner');
const { aggregate } = require('./lib/aggregate');
const { goals } = require('./lib/goals');
const { printTable } = require('./lib/table');
const { machine } = require('./lib/machine');

const ROOT = path.join(__dirname, '..');

function printList() {
  for (const s of SCENARIOS) {
    process.stdout.write(`${s.name.padEnd(14)} ${s.members} x ${s.payload} B${s.segment ? `/${s.segment}` : ''} [${s.sinks.join(', ')}]: ${s.about}\n`
      + `               ${s.methods.map((x) => x.name).join(', ')}\n`);
  }
  for (const [k, v] of Object.entries(DESCRIPTIONS)) process.stdout.write(`${k.padEnd(24)}${v}\n`);
}

/** The sinks to run: --sink, else all as root (loopback only when --quick or without root and iproute2). */
function selectSinks(options) {
  const vethWhy = VethSink.available();
  let sinks = options.sinks ?? (options.quick || vethWhy ? ['loopback'] : SINKS);
  for (const s of sinks) if (!SINKS.includes(s)) throw new Error(`unknown sink ${s} (known: ${SINKS.join(', ')})`);
  if (sinks.some((s) => s !== 'loopback') && vethWhy) {
    process.stderr.write(`veth and link sinks skipped: ${vethWhy}\n`);
    sinks = sinks.filter((s) => s === 'loopback');
  }
  return sinks;
}

/** The (sink, scenario) pairs to run, each scenario's methods narrowed by --method (dgram always stays). */
function makePlan(options, sinks) {
  const known = new Set(SCENARIOS.map((s) => s.name));
  for (const n of options.scenarios ?? []) if (!known.has(n)) throw new Error(`unknown scenario ${n} (known: ${[...known].join(', ')})`);
  const wanted = options.scenarios ?? (options.quick ? QUICK : SCENARIOS.map((s) => s.name));
  const plan = [];
  for (const sinkName of sinks) {
    for (const s of SCENARIOS) {
      if (!wanted.includes(s.name) || !s.sinks.includes(sinkName)) continue;
      const methods = s.methods.filter((x) => !options.methods || x.name === 'dgram' || options.methods.includes(x.name));
      plan.push({ sinkName, scenario: { ...s, methods } });
    }
  }
  if (!plan.length) throw new Error('nothing to run: no selected scenario runs on the selected sinks');
  return plan;
}

/** Removes the sinks, the temporary directory and the library snapshot on exit or a signal. */
function cleanupOnExit(lib, tmp) {
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
  return { open, cleanup };
}

function newResults({ options, plan, sinks, lib, durations }) {
  return {
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
}

function makeSink(name, { sgref, tmp, options }) {
  if (name === 'loopback') return new LoopbackSink(sgref, tmp);
  if (name === 'link') return new LinkSink(sgref, tmp);
  return new VethSink(tmp, { name, mtu: options.vethMtu, drop: name === 'veth-silent' ? 'silent' : 'error' });
}

/** The sink a plan entry needs: the current one, or (closing that, its counters kept) a new one. */
function sinkFor(ctx, sinkName) {
  if (ctx.sink?.name === sinkName) return ctx.sink;
  if (ctx.sink) {
    if (ctx.sink.stats) ctx.results.sinkStats[ctx.sink.name] = ctx.sink.stats();
    ctx.sink.close();
    ctx.open.splice(ctx.open.indexOf(ctx.sink), 1);
  }
  ctx.sink = makeSink(sinkName, ctx);
  ctx.open.push(ctx.sink);
  if (ctx.sink.setup) ctx.sink.setup();
  return ctx.sink;
}

/** The progress line of the next run. */
function showProgress(ctx, what) {
  const elapsed = (Date.now() - ctx.started) / 1000;
  const eta = ctx.done ? (elapsed / ctx.done) * (ctx.totalRuns - ctx.done) : NaN;
  progress(`[${String(ctx.done + 1).padStart(String(ctx.totalRuns).length)}/${ctx.totalRuns}] ${what} `
    + `elapsed ${Math.round(elapsed)} s${Number.isFinite(eta) ? `, ~${Math.round(eta)} s left` : ''}`);
  ctx.label = currentProgress();
}

/** Every round of one scenario on one sink: method name -> one result (or null) per round. */
async function runRounds(ctx, sink, scenario, targetsFile) {
  const { rounds } = ctx.options;
  const raw = new Map(scenario.methods.map((x) => [x.name, []]));
  for (let round = 0; round < rounds; round++) {
    // A B C ... each round, starting one further along each time, so no
    // method always runs first (or right after the same neighbour).
    const order = scenario.methods.map((_, i) => scenario.methods[(i + round) % scenario.methods.length]);
    for (const spec of order) {
      const { name } = spec;
      showProgress(ctx, `${sink.name}/${scenario.name} round ${round + 1}/${rounds} ${name.padEnd(14)}`);
      let result = null;
      try {
        result = await runMethod(ctx, sink, scenario, spec, targetsFile);
      } catch (error) {
        clearProgress();
        process.stderr.write(`  ${sink.name}/${scenario.name} ${name} round ${round + 1} failed: ${error.message}\n`);
      }
      raw.get(name).push(result);
      ctx.done++;
    }
  }
  return raw;
}

async function runPlan(ctx, plan) {
  for (const { sinkName, scenario } of plan) {
    const sink = sinkFor(ctx, sinkName);
    if (sink.configure) sink.configure(scenario, ctx.options);
    const targetsFile = await sink.targets(scenario.members, scenario.targets);
    const raw = await runRounds(ctx, sink, scenario, targetsFile);
    ctx.results.scenarios.push(aggregate(scenario, sink, raw, scenarioDuration(ctx.options, scenario)));
  }
  if (ctx.sink?.stats) ctx.results.sinkStats[ctx.sink.name] = ctx.sink.stats();
}

/** The JSON, the SVG next to it, and with --docs docs/benchmarks.svg. */
function writeOutputs(options, results) {
  fs.mkdirSync(path.dirname(options.out), { recursive: true });
  fs.writeFileSync(options.out, `${JSON.stringify(results, null, 1)}\n`);
  const svgFile = options.out.replace(/\.json$/, '') + '.svg';
  const svg = renderSvg(results);
  fs.writeFileSync(svgFile, svg);
  if (options.docs) fs.writeFileSync(path.join(ROOT, 'docs', 'benchmarks.svg'), svg);
  process.stdout.write(`\nwrote ${path.relative(process.cwd(), options.out)} and ${path.relative(process.cwd(), svgFile)}`
    + `${options.docs ? ' and docs/benchmarks.svg' : ''} (${results.seconds} s)\n`);
}

async function main() {
  // `npm run bench -- --list | head` closes our stdout early: not an error.
  process.stdout.on('error', (error) => { if (error.code === 'EPIPE') process.exit(0); throw error; });
  const options = parseArgs(process.argv.slice(2));
  if (options.help) return void process.stdout.write(HELP);
  if (options.list) return void printList();
  const sinks = selectSinks(options);
  const plan = makePlan(options, sinks);
  // One frozen copy of the library for the whole run (see lib/snapshot.js).
  const lib = await snapshotLibrary({ log: (text) => process.stderr.write(`${text}\n`) });
  const sgref = buildReference();
  const totalRuns = plan.reduce((n, p) => n + p.scenario.methods.length * options.rounds, 0);
  // Seconds measured per run: '0.8', or '0.8 or 1.5' with the link scenarios.
  const durations = [...new Set(plan.map((p) => scenarioDuration(options, p.scenario)))].join(' or ');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sgbench-'));
  const { open, cleanup } = cleanupOnExit(lib, tmp);
  const results = newResults({ options, plan, sinks, lib, durations });
  process.stderr.write(`sendgroup bench: ${plan.length} scenario/sink pairs, ${totalRuns} runs of ${durations} s `
    + `(+${options.warmup} s warm-up) each, ${options.rounds} rounds; sinks: ${sinks.join(', ')}\n`);
  setBudgets(options);
  const ctx = { options, sgref, lib, tmp, open, results, sink: null, started: Date.now(), done: 0, totalRuns };
  await runPlan(ctx, plan);
  cleanup();
  clearProgress();
  results.finishedAt = new Date().toISOString();
  results.seconds = Math.round((Date.now() - ctx.started) / 1000);
  results.noise = noiseSummary();
  results.goals = goals(results, lib.auto);
  printTable(results);
  writeOutputs(options, results);
}

main().catch((error) => {
  clearProgress();
  process.stderr.write(`bench: ${error.stack || error.message}\n`);
  process.exit(1);
});
