#!/usr/bin/env node
// npm run fuzz [-- options]: the property-based fuzzing of test/70.fuzz.js at
// scale: 10^6 cases by default (70% send cases against real loopback
// receivers, 25% Group API sequences, 5% Sender options), in chunks of
// --chunk cases with a progress line after each. Stops at the first failure,
// prints the first failing case and its shrunk counterexample with a command
// that replays it, and exits 1. Every run is strict: no outcome is excused.
// The options are in USAGE below (`--help` prints them).
//
// The model, the arbitraries and the checks are in test/fixtures/fuzz/.
'use strict';
const { parseArgs } = require('node:util');
const fc = require('fast-check');
const { caseArb, groupCaseArb, senderCaseArb } = require('../test/fixtures/fuzz/arbitraries');
const { createHarness } = require('../test/fixtures/fuzz/harness');

const USAGE = `usage: npm run fuzz [-- --runs N] [--seed S] [--chunk N] [--seconds S]
       npm run fuzz -- --replay KIND:SEED:PATH

  --runs N       cases in all (default 1,000,000)
  --seed S       base seed (default: time-based; printed)
  --chunk N      cases per progress line (default 20,000)
  --seconds S    stop after S seconds, successfully, even if runs remain
  --replay KIND:SEED:PATH  re-run one failure (KIND send, group or sender)
  --help         print this text`;

const KINDS = ['group', 'sender', 'send'];

function usageError(message) {
  console.error(`fuzz: ${message} (--help lists the options)`);
  process.exit(2);
}

/** The number an option holds, or fallback; refuses what is not one (or below min, or not an integer when integer). */
function numberOption(values, name, fallback, { min = -Infinity, integer = true } = {}) {
  if (values[name] === undefined) return fallback;
  const n = Number(values[name]);
  if (values[name].trim() === '' || Number.isNaN(n) || n < min || (integer && !Number.isInteger(n))) {
    usageError(`--${name} must be ${integer ? 'an integer' : 'a number'}${min > -Infinity ? ` of at least ${min}` : ''}, got '${values[name]}'`);
  }
  return n;
}

function readOptions(args) {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        runs: { type: 'string' },
        seed: { type: 'string' },
        chunk: { type: 'string' },
        seconds: { type: 'string' },
        replay: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    usageError(error.message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (values.replay !== undefined && !KINDS.includes(values.replay.split(':')[0])) usageError(`--replay KIND must be one of ${KINDS.join(', ')}`);
  return {
    runs: numberOption(values, 'runs', 1e6, { min: 1 }),
    seed: numberOption(values, 'seed', (Date.now() ^ (process.pid << 10)) >>> 0),
    chunk: numberOption(values, 'chunk', 20000, { min: 1 }),
    seconds: numberOption(values, 'seconds', Infinity, { min: 0, integer: false }),
    replay: values.replay ?? null,
  };
}

const { runs: RUNS, seed: SEED, chunk: CHUNK, seconds: SECONDS, replay: REPLAY } = readOptions(process.argv.slice(2));
const SHARE = process.env.FUZZ_SHARE ? JSON.parse(process.env.FUZZ_SHARE) : { send: 0.7, group: 0.25, sender: 0.05 };

function duration(seconds) {
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

async function replay(harness, properties) {
  const [kind, seed, ...path] = REPLAY.split(':');
  const details = await fc.check(properties[kind], { seed: Number(seed), path: path.join(':'), numRuns: 1 });
  console.log(details.failed ? `${harness.failures[0]}\n${fc.defaultReportMessage(details)}` : 'replay: the case passes now');
  await harness.close();
  process.exitCode = details.failed ? 1 : 0;
}

function reportFailure(harness, kind, details, done, started) {
  console.log(`\n[fuzz] FAILED after ${done + (details.numRuns ?? 0)} cases, ${duration((Date.now() - started) / 1000)}`);
  console.log(`[fuzz] first failure: ${harness.failures[0] ?? '(see below)'}`);
  console.log(`[fuzz] after shrinking: ${details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)}`);
  console.log(fc.defaultReportMessage(details));
  console.log(`[fuzz] replay: node scripts/fuzz.js --replay ${kind}:${details.seed}:${details.counterexamplePath}`);
}

function progress(harness, done, started) {
  const seconds = (Date.now() - started) / 1000;
  const rate = done / seconds;
  const s = harness.stats;
  console.log(`[fuzz] ${String(done).padStart(8)}/${RUNS} cases  ${duration(seconds).padStart(6)}  ${Math.round(rate)} cases/s  ` +
    `ETA ${duration((RUNS - done) / rate)}  rss ${(process.memoryUsage.rss() / 1048576).toFixed(0)} MB, heap ${(process.memoryUsage().heapUsed / 1048576).toFixed(0)} MB  ` +
    `calls ${s.calls} (${s.resolved} resolved, ${s.rejected} refused)  members ${s.sentMembers} sent/${s.failedMembers} failed  ` +
    `datagrams ${s.datagrams}`);
}

async function main() {
  const harness = await createHarness();
  const properties = {
    send: fc.asyncProperty(caseArb(harness.receiverCount), (c) => harness.runCase(c)),
    group: fc.asyncProperty(groupCaseArb, async (c) => harness.runGroupCase(c)),
    sender: fc.asyncProperty(senderCaseArb(harness.receiverCount), (c) => harness.runCase(c)),
  };
  if (REPLAY) {
    await replay(harness, properties);
    return;
  }

  const started = Date.now();
  const deadline = started + SECONDS * 1000;
  console.log(`[fuzz] ${RUNS} cases, base seed ${SEED}, chunks of ${CHUNK}; ${harness.receiverCount} loopback receivers`);
  let done = 0;
  for (let chunk = 0; done < RUNS && Date.now() < deadline; chunk++) {
    const size = Math.min(CHUNK, RUNS - done);
    for (const kind of KINDS) {
      const numRuns = Math.max(1, Math.round(size * SHARE[kind]));
      const seed = (SEED + chunk * 3 + KINDS.indexOf(kind)) >>> 0;
      const details = await fc.check(properties[kind], { seed, numRuns });
      if (details.failed) {
        reportFailure(harness, kind, details, done, started);
        await harness.close();
        process.exitCode = 1;
        return;
      }
    }
    done += size;
    progress(harness, done, started);
  }
  await harness.close();
  const s = harness.stats;
  const codes = Object.entries(s.codes).sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ${n}`).join(', ');
  console.log(`[fuzz] PASS: ${done} cases in ${duration((Date.now() - started) / 1000)} (seed ${SEED}); ${s.calls} calls, ` +
    `${s.datagrams} datagrams checked byte for byte; outcomes: ${codes}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
