// The command line of npm run bench: --help text, parsing, and the seconds
// each run measures.
'use strict';
const path = require('node:path');
const util = require('node:util');
const { SCENARIOS, QUICK } = require('./scenarios');

const RESULTS = path.join(__dirname, '..', 'results');
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
  --wait-budget S       seconds the whole run may wait for a quiet machine (default 120; quick 30)
  --retry-budget N      noisy runs it may repeat (default 40; quick 10)
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
  'wait-budget': { type: 'string' },
  'retry-budget': { type: 'string' },
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
    waitBudget: number(values['wait-budget'], 'wait-budget') ?? (quick ? 30 : 120),
    retryBudget: number(values['retry-budget'], 'retry-budget', (x) => parseInt(x, 10)) ?? (quick ? 10 : 40),
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

module.exports = { HELP, SINKS, parseArgs, scenarioDuration };
