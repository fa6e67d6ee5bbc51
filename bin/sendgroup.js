#!/usr/bin/env node
'use strict';
// `sendgroup relay ...`: see `sendgroup --help` and README's "Relay from the command line".

// Until a signal has a listener its default action applies, and SIGHUP's is
// to die: a reload right after start (systemd's ExecReload) killed the relay
// while it was still loading. From here on signals wait for the event loop,
// and the relay's own listeners are on before its first turn (they are set
// while it starts, which does not yield), so they get what came meanwhile.
// What is left is Node's own start-up, before this line runs.
const waitForTheRelay = () => {};
for (const signal of ['SIGHUP', 'SIGINT', 'SIGTERM']) process.on(signal, waitForTheRelay);

require('../dist/cli.js').main(process.argv.slice(2)).then((status) => { process.exitCode = status; });
