#!/usr/bin/env node
'use strict';
// `sendgroup relay ...`: see `sendgroup --help` and README's "Relay from the command line".

// Until a signal has a listener its default action applies, and SIGHUP's is
// to die: a reload right after start killed the relay while it was still
// loading. The relay starts without yielding, so a signal that comes
// meanwhile is dispatched once its own listeners are on, and they act on it.
// One that finds nobody else listening (the relay gone, or a start that
// yielded) takes its default action after all. Node's own start-up, before
// this line, is not covered.
function untilTheRelayListens(signal) {
  if (process.listenerCount(signal) > 1) return;
  process.removeListener(signal, untilTheRelayListens);
  process.kill(process.pid, signal);
}
for (const signal of ['SIGHUP', 'SIGINT', 'SIGTERM']) process.on(signal, untilTheRelayListens);

require('../dist/cli.js').main(process.argv.slice(2)).then((status) => { process.exitCode = status; });
