// The processes of bench/relay.js: relays that answer SIGUSR2 with a JSON
// line of counters and CPU time, and the C source, run once per measurement.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');

const NODE_RELAY = path.join(__dirname, 'node-relay.js');
const MARK_TIMEOUT_MS = 5000;
const STOP_TIMEOUT_MS = 3000;

const live = new Set(); // every child not yet exited, for killAll()

function track(child) {
  live.add(child);
  child.on('exit', () => live.delete(child));
  return child;
}

/** Kills every child still running (cleanup on error or signal). */
function killAll() {
  for (const child of live) child.kill('SIGKILL');
}

function timeout(ms, what) {
  let timer;
  const promise = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

class RelayProcess {
  constructor(variant, child) {
    this.variant = variant;
    this.child = child;
    this.waiters = [];
    this.exited = new Promise((resolve) => child.on('exit', resolve));
    readline.createInterface({ input: child.stdout }).on('line', (line) => this.waiters.shift()?.resolve(JSON.parse(line)));
    child.on('exit', (code, signal) => {
      for (const w of this.waiters.splice(0)) w.reject(new Error(`${variant} exited (${code ?? signal})`));
    });
  }

  /** Starts a relay inside the network; resolves once it is bound. */
  static async start(network, binaries, variant, port, membersFile) {
    const [command, args] = variant === 'relay-c'
      ? network.wrap(binaries.relayref, [String(port), membersFile])
      : network.wrap(process.execPath, [NODE_RELAY, variant, String(port), membersFile]);
    const relay = new RelayProcess(variant, track(spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] })));
    await relay.next();
    return relay;
  }

  next() {
    const limit = timeout(MARK_TIMEOUT_MS, this.variant);
    const line = new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
    return Promise.race([line, limit.promise]).finally(limit.cancel);
  }

  /** Its counters and CPU time now. */
  mark() {
    const answer = this.next();
    this.child.kill('SIGUSR2');
    return answer;
  }

  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const limit = timeout(STOP_TIMEOUT_MS, `${this.variant} stop`);
    await Promise.race([this.exited, limit.promise]).catch(() => this.child.kill('SIGKILL')).finally(limit.cancel);
  }
}

/** Runs the source to completion; resolves with its report ({ sent, refused, maxBurst, cpuUs, seconds }). */
function runSource(network, binaries, { port, rate, seconds, size }) {
  const [command, args] = network.wrap(binaries.source, [String(port), String(rate), String(seconds), String(size)]);
  const child = track(spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  child.stdout.on('data', (chunk) => { out += chunk; });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`source exited (${code})`))));
  });
}

/** Compiles the C relay and source with cc -O2 into dir. */
function buildBinaries(dir) {
  const build = (name, extra = []) => {
    const out = path.join(dir, name);
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-o', out, path.join(__dirname, `${name}.c`), ...extra],
      { stdio: ['ignore', 'inherit', 'inherit'] });
    return out;
  };
  return { relayref: build('relayref', ['-pthread']), source: build('source') };
}

module.exports = { RelayProcess, runSource, buildBinaries, killAll };
