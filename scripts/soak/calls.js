// A soak phase's calls (scripts/soak.js): its state (calls made, in flight,
// member failures, unexpected ones, delivery checks), how a call is tracked
// until it settles, and the verdict on what failed unexpectedly.
'use strict';

/** unref: a timer that does not keep the process alive (a deadline in a race). */
const sleep = (ms, { unref = false } = {}) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  if (unref) timer.unref();
});

/** A phase's state; tag names the phase in its lines ('soak', 'soak:pushback'). */
function newState(tag) {
  return { tag, calls: 0, inflight: 0, started: Date.now(), failures: new Map(), unexpected: 0, unexpectedCodes: new Map(), checks: 0, badChecks: 0 };
}

function countFailure(state, code) {
  state.failures.set(code, (state.failures.get(code) ?? 0) + 1);
}

function unexpected(state, what) {
  state.unexpected++;
  state.unexpectedCodes.set(what, (state.unexpectedCodes.get(what) ?? 0) + 1);
}

/**
 * Tracks one call until it settles. allowed(code) says which member failure
 * codes the scenario causes; any other failure, a rejection, or a report
 * whose sent + failed is not its recipients counts as unexpected (listed
 * with `label`, which call it was, when given).
 */
function settle(state, promise, allowed, label = '') {
  const what = (text) => (label ? `${text} (${label})` : text);
  state.inflight++;
  return promise.then((report) => {
    state.inflight--;
    for (const e of report.errors) {
      countFailure(state, e.code);
      if (!allowed(e.code)) unexpected(state, what(e.code));
    }
    if (report.sent + report.failed !== report.recipients) unexpected(state, what('sent + failed != recipients'));
  }, (error) => {
    state.inflight--;
    countFailure(state, `rejected ${error.code}`);
    unexpected(state, what(`rejected ${error.code}`));
  });
}

/** The verdict on unexpected failures, with what they were. */
function unexpectedVerdict(state) {
  if (!state.unexpected) return [];
  return [`${state.unexpected} unexpected failures (${[...state.unexpectedCodes].map(([code, n]) => `${code} ${n}`).join(', ')})`];
}

/** Consumes a streamGroup: the same shape as a SendReport. */
async function streamReport(stream, recipients) {
  let n = 0;
  let failed = 0;
  const errors = [];
  for await (const c of stream) {
    n++;
    if (!c.ok) {
      failed++;
      errors.push({ code: c.error.code });
    }
  }
  return { recipients, sent: n - failed, failed, errors };
}

module.exports = { newState, settle, sleep, streamReport, unexpectedVerdict };
