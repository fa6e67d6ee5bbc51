// Phase 2 of the soak, the parent's side (scripts/soak.js): a slow link
// between two network namespaces (bench/lib/link.js) with receivers that
// read, some of them closed and reopened every turn; the sending side runs
// as a child inside the first namespace (pushback-child.js).
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { onLines } = require('../../test/_helpers');
const { sleep } = require('./calls');
const { FLAGS } = require('./measure');

const SOAK = path.join(__dirname, '..', 'soak.js');
const PUSHBACK = {
  rate: '30mbit',
  smallLimit: '16kb', // the qdisc's queue in the last quarter: its drops are ENOBUFS
  ports: 16, // receivers (one member each)
  dying: 4, // receivers closed at each turn; the ones closed before reopen
  dyingEveryMs: 400,
  replaceEveryMs: 3000, // Senders closed with calls waiting, and replaced
  setupSeconds: 1.5, // namespaces, receivers, the child's start and its end
};

/** Why phase 2 cannot run here ('' when it can). */
function pushbackUnavailable() {
  const { VethSink } = require('../../bench/lib/sinks');
  const why = VethSink.available();
  if (why) return why;
  try {
    require('../../bench/lib/reference').buildReference({ quiet: true });
  } catch (error) {
    return `cannot build the receivers (bench/reference/sgref.c): ${error.message.split('\n')[0]}`;
  }
  return '';
}

/** Every turn: the receivers closed last turn come back, `dying` others close. */
function startDying(receiver) {
  let closed = [];
  let turns = 0;
  let running = true;
  const turn = async () => {
    for (const i of closed) await receiver.request(`open ${i} ${i + 1}`);
    const open = [...Array(PUSHBACK.ports).keys()].filter((i) => !closed.includes(i));
    closed = open.sort(() => Math.random() - 0.5).slice(0, PUSHBACK.dying);
    for (const i of closed) await receiver.request(`close ${i} ${i + 1}`);
    turns++;
  };
  const loop = (async () => {
    while (running) {
      await turn();
      await sleep(PUSHBACK.dyingEveryMs);
    }
    await receiver.request(`open 0 ${PUSHBACK.ports}`);
  })();
  return { stop: async () => { running = false; await loop; return turns; } };
}

/** Runs the sending side inside the link's first namespace; resolves with its result line. */
function runPushbackChild(link, job, timeoutMs) {
  const [command, args] = link.wrap(process.execPath, [...FLAGS, SOAK, '--pushback-child', JSON.stringify(job)]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const kill = () => child.kill('SIGKILL');
  process.on('exit', kill);
  return new Promise((resolve) => {
    let result = null;
    const timer = setTimeout(kill, timeoutMs);
    onLines(child.stdout, (line) => {
      if (line.startsWith('RESULT ')) result = JSON.parse(line.slice(7));
      else console.log(line);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      process.off('exit', kill);
      resolve(result ?? { verdicts: [`the sending child ended without a result (${code ?? signal})`] });
    });
  });
}

function warnSkipped(why) {
  console.warn(`\n[soak] ********************************************************************\n` +
    `[soak] SKIPPED: the pushing-back phase needs network namespaces: ${why}\n` +
    `[soak] ********************************************************************\n`);
  return { skipped: why };
}

/** The link (not set up yet) in a temporary directory, and what deletes both. */
function newLink() {
  const { LinkSink } = require('../../bench/lib/link');
  const { buildReference } = require('../../bench/lib/reference');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sgsoak-'));
  const link = new LinkSink(buildReference({ quiet: true }), dir, { rate: PUSHBACK.rate, ports: PUSHBACK.ports });
  const cleanup = () => {
    link.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { link, cleanup };
}

/** The receivers' addresses, as { address, port }. */
async function linkTargets(link) {
  return fs.readFileSync(await link.targets(PUSHBACK.ports), 'utf8').trim().split('\n')
    .map((line) => ({ address: line.split(' ')[0], port: Number(line.split(' ')[1]) }));
}

/** Phase 2 through a link that is set up: the child sends while receivers die; returns its verdicts. */
async function sendThrough(link, options, seconds) {
  const targets = await linkTargets(link);
  const childSeconds = Math.max(5, seconds - PUSHBACK.setupSeconds);
  console.log(`[soak] pushing-back phase: ${childSeconds.toFixed(0)} s through a ${PUSHBACK.rate} link (tbf, 128 KiB burst, 8 MiB queue; ` +
    `${PUSHBACK.smallLimit} for the last quarter), ${targets.length} receivers, ${PUSHBACK.dying} closed every ${PUSHBACK.dyingEveryMs} ms; ` +
    `ICMP sysctls in the receiving namespace: ${JSON.stringify(link.sysctls)}`);
  const dying = startDying(link.receiver);
  const result = await runPushbackChild(link, { targets, seconds: childSeconds, ns: link.tx, dev: link.txDev, rate: PUSHBACK.rate,
    window: options.window ?? 8, every: options.every ?? 10 }, (childSeconds + 60) * 1000);
  const turns = await dying.stop();
  await reportReceivers(link, turns);
  return result.verdicts.map((v) => `pushing back: ${v}`);
}

/** What the receivers read, and what the dying ones drew: datagrams to closed ports, ICMP errors sent back. */
async function reportReceivers(link, turns) {
  const { snmp } = require('../../bench/lib/link');
  const received = await link.receiver.request('report 0 0');
  const rx = snmp(link.rx);
  console.log(`[soak:pushback] receivers read ${received.since.datagrams} datagrams (${received.udp.RcvbufErrors} dropped by their buffers); ` +
    `${turns} turns of dying receivers: ${rx.Udp.NoPorts} datagrams to closed ports, ${rx.Icmp.OutDestUnreachs} ICMP unreachable sent back` +
    `${rx.Icmp.OutDestUnreachs < rx.Udp.NoPorts ? ' (fewer: rate-limited?)' : ''}`);
}

/**
 * Phase 2 (parent side); returns its verdicts, or { skipped: why }. The
 * link's cleanup stays in `cleanups` while the link exists.
 */
async function pushbackPhase(options, seconds, cleanups) {
  const why = pushbackUnavailable();
  if (why) return warnSkipped(why);
  const { link, cleanup } = newLink();
  cleanups.push(cleanup);
  try {
    link.setup();
    return await sendThrough(link, options, seconds);
  } finally {
    cleanup();
    cleanups.splice(cleanups.indexOf(cleanup), 1);
  }
}

module.exports = { PUSHBACK, pushbackPhase };
