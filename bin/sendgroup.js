#!/usr/bin/env node
'use strict';
// `sendgroup relay ...`: see `sendgroup --help` and README's "Relay from the command line".
require('../dist/cli.js').main(process.argv.slice(2)).then((status) => { process.exitCode = status; });
