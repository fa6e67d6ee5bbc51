// One run: a fresh child process (the C reference, or bench/worker.js for
// the JavaScript methods) inside the sink's namespace, its JSON line parsed,
// a noisy run repeated once.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');
const { scenarioDuration } = require('./options');
const { NOISY_CORES, noise, sleep, waitForQuiet } = require('./noise');
const { progress } = require('./progress');

const WORKER = path.join(__dirname, '..', 'worker.js');

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

/**
 * The command line of one run (spec: a scenario's method): sgref send for C
 * rows, else the worker; inside the sink's namespace. spec.sgref (C:
 * { method, args }), spec.worker, spec.sender and spec.window (JavaScript:
 * the worker's method, more Sender options, calls in flight) and
 * spec.loopDelay make variants of a method under their own name.
 */
function methodCommand(ctx, sink, scenario, spec, targetsFile) {
  const { options, sgref } = ctx;
  const duration = scenarioDuration(options, scenario);
  if (spec.name.startsWith('c-')) {
    return sink.wrap(sgref, ['send', '--method', spec.sgref?.method ?? spec.name.slice(2), '--targets', targetsFile,
      '--payload', String(scenario.payload), '--segment', String(scenario.segment ?? 0), '--duration', String(duration),
      '--warmup', String(options.warmup), ...(sink.pace ? ['--pace', sink.pace] : []),
      ...(spec.loopDelay ? ['--tick-ms', '1'] : []), ...(spec.sgref?.args ?? [])]);
  }
  return sink.wrap(process.execPath, [WORKER, JSON.stringify({ method: spec.worker ?? spec.name, lib: ctx.lib.dir, targetsFile,
    payload: scenario.payload, segment: scenario.segment ?? 0, duration, warmup: options.warmup,
    ...(spec.loopDelay ? { loopDelay: true } : {}), ...(spec.sender ? { sender: spec.sender } : {}),
    ...(spec.window ? { window: spec.window } : {}) })]);
}

/** Runs once, and once more when the first was noisy (keeping the quieter). */
async function measureQuietly(ctx, once) {
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
}

/** One run of a scenario's method (spec); retried when the child fails (longer while the addon is being rebuilt). */
async function runMethod(ctx, sink, scenario, spec, targetsFile) {
  const [command, args] = methodCommand(ctx, sink, scenario, spec, targetsFile);
  const timeoutMs = (scenarioDuration(ctx.options, scenario) + ctx.options.warmup) * 1000 + 60000;
  // The link sink adds what its receivers got in the run's window.
  const once = async () => {
    const result = await runChild(command, args, timeoutMs);
    return sink.measure ? sink.measure(result) : result;
  };
  for (let attempt = 1; ; attempt++) {
    try {
      sink.check(scenario.members);
      return await measureQuietly(ctx, once);
    } catch (error) {
      // The addon may be rebuilt while we run (missing for a moment): wait.
      const rebuilding = /cannot load the native addon|Cannot find module/.test(error.stderr ?? '');
      if (attempt >= (rebuilding ? 6 : 2)) throw error;
      progress(`  retrying ${spec.name} (${error.message.slice(0, 80)})`);
      await sleep(rebuilding ? 20000 : 2000);
    }
  }
}

module.exports = { runMethod };
