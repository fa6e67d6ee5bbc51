// Looking things up in a run's results (the object latest.json holds).
'use strict';
const { summary, pairRatios } = require('./stats');
const { fmt } = require('./format');

function find(results, sink, scenario) {
  return results.scenarios.find((s) => s.sink === sink && s.name === scenario);
}

function row(scn, name) {
  return scn?.methods.find((r) => r.name === name);
}

/** 'median [min-max]' of a summary. */
const range = (s, d = 2) => `${fmt(s?.median, d)} [${fmt(s?.min, d)}-${fmt(s?.max, d)}]`;

/** CPU per datagram of a over b, round by round (the inverse of the datagrams/CPU-s ratio). */
function cpuRatio(a, b) {
  return summary(pairRatios(b.dpcsRounds, a.dpcsRounds));
}

module.exports = { find, row, range, cpuRatio };
