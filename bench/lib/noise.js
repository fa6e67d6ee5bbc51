// Noise control. CPU per datagram is only comparable when nothing else
// competes for the two cores (a busy neighbour shifts softirq and
// skb-freeing work between processes and inflates or deflates a run by
// 20%). Each run reports how many cores the rest of the machine used
// meanwhile (otherCores); before a run we wait (bounded) for the machine to
// be quiet, and a noisy run is repeated once (runner.js).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const { progress } = require('./progress');

const NOISY_CORES = 0.3;
// Budgets keep a full run bounded (~12 min at worst) on a machine that never
// gets quiet; --wait-budget and --retry-budget set them (setBudgets).
const noise = { waitedMs: 0, waitBudgetMs: 120000, retries: 0, retryBudget: 40, noisyRuns: 0, lastNoisy: true };

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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
    // One wait lasts at most 20 s (a sixth of the budget when that is larger).
    const cap = Math.max(20000, noise.waitBudgetMs / 6);
    if (busy <= NOISY_CORES || noise.waitedMs + (Date.now() - start) >= noise.waitBudgetMs || Date.now() - start > cap) break;
    progress(`${label} (waiting: the machine is busy, ${busy.toFixed(1)} cores in use by others)`);
    await sleep(750);
  }
  noise.waitedMs += Date.now() - start;
}

/** How long the run may wait for quiet (s), and how many noisy runs it may repeat. */
function setBudgets({ waitBudget, retryBudget }) {
  Object.assign(noise, { waitBudgetMs: waitBudget * 1000, retryBudget });
}

/** What results.noise records. */
function noiseSummary() {
  return { noisyCoresThreshold: NOISY_CORES, waitedSeconds: Math.round(noise.waitedMs / 1000), repeatedRuns: noise.retries,
    noisyRunsKept: noise.noisyRuns };
}

module.exports = { NOISY_CORES, noise, sleep, waitForQuiet, setBudgets, noiseSummary };
