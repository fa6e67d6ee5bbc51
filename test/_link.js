// A link that pushes back: two private network namespaces joined by a veth
// pair, a token bucket (tbf) of a chosen rate on A's egress, and in B real
// receivers, closed ports that answer with ICMP port unreachable, and a
// router that answers for 198.19.1.0/24 with ICMP host unreachable (an
// 'unreachable' route) and for 198.19.2.0/24 with ICMP net unreachable (no
// route). The sender runs in A (test/fixtures/link-sender.js), the
// receivers in B (test/fixtures/link-receivers.js).
//
// Addresses exist only inside these namespaces (198.18.0.0/15 and
// fd00:5347::/48); neither has a default route, so nothing can leave them.
// close() kills every process started here and deletes both namespaces; it
// also runs when the test process exits with a link still open.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const { available, receiveInFlowOrder } = require('./_netns');
const { onLines, testUnless } = require('./_helpers');
const { lossCounters, snmpCounters } = require('./_proc');
const path = require('node:path');

const ADDRESSES = Object.freeze({
  a4: '198.18.0.1',
  b4: '198.18.0.2',
  a6: 'fd00:5347::1',
  b6: 'fd00:5347::2',
  /** B has an 'unreachable' route for 198.19.1.0/24: ICMP host unreachable (EHOSTUNREACH). */
  hostUnreachable4: '198.19.1.1',
  /** B has no route for 198.19.2.0/24: ICMP net unreachable (ENETUNREACH). */
  netUnreachable4: '198.19.2.1',
  /** B has no route for fd00:5347:2::/64: ICMPv6 no route (ENETUNREACH). */
  netUnreachable6: 'fd00:5347:2::1',
});
const MTU = 9000;
const MAC_A = '02:53:47:00:00:01';
const MAC_B = '02:53:47:00:00:02';
const SENDER = path.join(__dirname, 'fixtures', 'link-sender.js');
const RECEIVERS = path.join(__dirname, 'fixtures', 'link-receivers.js');
/** The parent's last resort; the sender child has its own, shorter deadline (link-sender.js). */
const CHILD_KILL_MS = 45000;

// In B: every datagram to a closed port must be answered. All of these are
// per namespace on Linux 6.18 (the host's values stay as they are);
// icmp_ratemask 0 also takes destination unreachable out of the per-peer and
// global ICMP limits. net.core.rmem_max is read-only in a namespace other
// than the host's (sysctl -w fails there, and exits 0): the receivers' 8 MiB
// SO_RCVBUF is capped at the host's value; sysctls records what each became.
const B_SYSCTLS = [
  ['net.ipv4.icmp_ratelimit', '0'],
  ['net.ipv4.icmp_ratemask', '0'],
  ['net.ipv4.icmp_msgs_per_sec', '1000000'],
  ['net.ipv4.icmp_msgs_burst', '1000000'],
  ['net.ipv6.icmp.ratelimit', '0'],
  ['net.ipv4.ip_forward', '1'],
  ['net.ipv6.conf.all.forwarding', '1'],
  ['net.core.rmem_max', String(8 << 20)],
];
// Errors a forwarding IPv4 router sends (ip_error: host and net unreachable)
// have a limiter of their own, net.ipv4.route.error_cost/error_burst, which
// exist only in the host's namespace: 5 at once, then 1 a second, per source
// address (measured: of 16 such datagrams, 5 were answered). A link answers
// at most this many in all; IPv6 routes have no such limit.
const ROUTER_ICMP_BURST = 5;


function run(file, args) {
  return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const open = new Set();
let watching = false;

function closeAll() {
  for (const link of open) link.close();
}

/** Keeps `link` open until it is closed, or until this process exits or is interrupted. */
function holdOpen(link) {
  open.add(link);
  if (watching) return;
  watching = true;
  process.on('exit', closeAll);
  // Interrupted (Ctrl-C, a CI timeout): clean up, then die of the signal as before.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      closeAll();
      process.kill(process.pid, signal);
    });
  }
}

/** Wire bytes of `count` datagrams of `size` payload bytes: + UDP 8, IP 20 (IPv6 40), Ethernet 14 (what tbf counts). */
function wireBytes(count, size, family = 'IPv4') {
  return count * (size + 8 + (family === 'IPv6' ? 40 : 20) + 14);
}

/** Milliseconds the link needs for `bytes` at `rate` ('50mbit', '1gbit'). */
function linkMs(bytes, rate) {
  return (bytes * 8) / rateBits(rate) * 1000;
}

function rateBits(rate) {
  const match = /^(\d+(?:\.\d+)?)(k|m|g)?bit$/.exec(rate);
  if (!match) throw new Error(`rate ${rate}: use Nkbit, Nmbit or Ngbit`);
  return Number(match[1]) * { undefined: 1, k: 1e3, m: 1e6, g: 1e9 }[match[2]];
}

/** Creates the namespaces with the link at `rate`. */
function createLink({ rate = '1gbit' } = {}) {
  const link = newLink(rate);
  holdOpen(link);
  try {
    addVeth(link);
    for (const end of linkEnds(link)) configureEnd(end);
    setSysctls(link);
    addRoutes(link);
    link.setRate(rate);
  } catch (error) {
    link.close();
    throw error;
  }
  return link;
}

/** The link's handle, before anything exists: its names, and what can be done with it. */
function newLink(rate) {
  const a = `sglink-a-${process.pid}`;
  const b = `sglink-b-${process.pid}`;
  const dev = `sgl${process.pid % 1000000}`;
  const children = new Set();
  const link = {
    a, b, dev, addresses: ADDRESSES, routerIcmpBurst: ROUTER_ICMP_BURST,
    /** What each sysctl of B_SYSCTLS did in namespace B: the value now, or why not. */
    sysctls: {},
    rate,
    close: () => closeLink(link, children),
    /** Replaces A's egress qdisc: tbf at this rate, 128 KiB bucket, 8 MiB queue. */
    setRate(newRate) {
      rateBits(newRate);
      run('tc', ['-n', a, 'qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', newRate, 'burst', '128kb', 'limit', '8mb']);
      link.rate = newRate;
    },
    /**
     * Runs link-sender.js in A; resolves with { result, code, signal, stderr,
     * ms, exitMs (result line to exit), hung }. With exitWithinMs, a child
     * still running that long after its result line is killed (hung: true).
     */
    sender(scenario, args = {}, { exitWithinMs } = {}) {
      return runChild(children, ['netns', 'exec', a, process.execPath, SENDER, scenario, JSON.stringify(args)], exitWithinMs);
    },
    /** Starts link-receivers.js in B; resolves once it is listening. */
    receivers() {
      return startReceivers(children, ['netns', 'exec', b, process.execPath, RECEIVERS, JSON.stringify({ address4: ADDRESSES.b4, address6: ADDRESSES.b6 })]);
    },
    /** Every counter of /proc/net/snmp{,6} of namespace a or b, by name (test/_proc.js). */
    snmp: (ns) => snmpCounters(snmpText(ns)),
    /** Where datagrams were lost, for a failure's message: A's qdisc drops and each namespace's non-zero discard, error and drop counters. */
    losses: () => ({
      qdiscDrops: Number(/dropped (\d+)/.exec(run('tc', ['-n', a, '-s', 'qdisc', 'show', 'dev', dev]))?.[1] ?? 0),
      vethDrops: linkEnds(link).map(({ ns, name }) => deviceDrops(ns, name)),
      a: lossCounters(snmpText(a)),
      b: lossCounters(snmpText(b)),
    }),
  };
  return link;
}

/** Namespace ns's /proc/net/snmp and snmp6. */
function snmpText(ns) {
  return run('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp', '/proc/net/snmp6']);
}

/** What device `name` of namespace ns dropped: { dev, rx, tx } (a veth drops a frame when the peer's backlog is full). */
function deviceDrops(ns, name) {
  const [{ stats64 }] = JSON.parse(run('ip', ['-n', ns, '-j', '-s', 'link', 'show', 'dev', name]));
  return { dev: name, rx: stats64.rx.dropped, tx: stats64.tx.dropped };
}

/** Kills the link's processes and deletes its namespaces (once). */
function closeLink(link, children) {
  if (!open.delete(link)) return;
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const ns of [link.a, link.b]) {
    try { run('ip', ['netns', 'del', ns]); } catch { /* never made, or already gone */ }
  }
}

/** The namespaces, and the veth pair between them. */
function addVeth({ a, b, dev }) {
  run('ip', ['netns', 'add', a]);
  run('ip', ['netns', 'add', b]);
  run('ip', ['link', 'add', dev, 'netns', a, 'address', MAC_A, 'type', 'veth', 'peer', 'name', `${dev}p`, 'netns', b, 'address', MAC_B]);
}

/** Each end of the veth: its namespace, device, own and peer's address keys, the peer's MAC. */
function linkEnds({ a, b, dev }) {
  return [
    { ns: a, name: dev, mine: 'a', peer: 'b', peerMac: MAC_B },
    { ns: b, name: `${dev}p`, mine: 'b', peer: 'a', peerMac: MAC_A },
  ];
}

function configureEnd({ ns, name, mine, peer, peerMac }) {
  // No link-local address: nothing but the tests' own traffic on the link.
  run('ip', ['-n', ns, 'link', 'set', name, 'addrgenmode', 'none']);
  // Jumbo frames: 8 KB datagrams in one frame, so 1 Gbit/s is the link's
  // rate and not the CPU's (at 1,200 bytes that is 100,000 datagrams a second).
  run('ip', ['-n', ns, 'link', 'set', name, 'mtu', String(MTU)]);
  run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  run('ip', ['-n', ns, 'addr', 'add', `${ADDRESSES[`${mine}4`]}/30`, 'dev', name]);
  run('ip', ['-n', ns, 'addr', 'add', `${ADDRESSES[`${mine}6`]}/64`, 'dev', name, 'nodad']);
  run('ip', ['-n', ns, 'link', 'set', name, 'up']);
  receiveInFlowOrder(ns, name);
  // Static neighbours: no ARP/ND queue to overflow (it would drop silently).
  run('ip', ['-n', ns, 'neigh', 'replace', ADDRESSES[`${peer}4`], 'lladdr', peerMac, 'dev', name, 'nud', 'permanent']);
  run('ip', ['-n', ns, '-6', 'neigh', 'replace', ADDRESSES[`${peer}6`], 'lladdr', peerMac, 'dev', name, 'nud', 'permanent']);
}

/** B_SYSCTLS in namespace B; link.sysctls records what each became. */
function setSysctls(link) {
  for (const [name, value] of B_SYSCTLS) {
    // sysctl -w exits 0 on some failures: what counts is the value read back.
    let why = '';
    try {
      run('ip', ['netns', 'exec', link.b, 'sysctl', '-q', '-w', `${name}=${value}`]);
    } catch (error) {
      why = String(error.stderr || error.message).trim().split('\n').pop();
    }
    let now;
    try {
      now = run('ip', ['netns', 'exec', link.b, 'sysctl', '-n', name]).trim();
    } catch {
      now = 'missing in this namespace';
    }
    link.sysctls[name] = now === value ? now : `${now} (not set to ${value}${why ? `: ${why}` : ''})`;
  }
}

/** The router: A sends 198.19.0.0/16 and fd00:5347:2::/64 to B. */
function addRoutes({ a, b }) {
  run('ip', ['-n', a, 'route', 'add', '198.19.0.0/16', 'via', ADDRESSES.b4]);
  run('ip', ['-n', a, '-6', 'route', 'add', 'fd00:5347:2::/64', 'via', ADDRESSES.b6]);
  run('ip', ['-n', b, 'route', 'add', 'unreachable', '198.19.1.0/24']);
}

/** Why a link-sender.js run did not end well (stalled, crashed, never exited), or undefined. */
function senderFailure(scenario, child) {
  const { result } = child;
  const text = JSON.stringify(result).slice(0, 2000);
  const stderr = child.stderr ? `; stderr: ${child.stderr.slice(0, 2000)}` : '';
  if (child.hung) return `${scenario}: still running ${Math.round(child.exitMs ?? child.ms)} ms after ${child.exitMs === undefined ? 'it started' : 'its result'} (killed): ${text}${stderr}`;
  if (result.stalled) return `${scenario} stalled on ${result.progress?.backend ?? 'its backend'}: ${text}${stderr}`;
  if (result.noResult || result.error || child.code !== 0) return `${scenario} failed (exit ${child.code ?? child.signal}): ${text}${stderr}`;
  return undefined;
}

function runChild(children, args, exitWithinMs) {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    let resultAt;
    let hung = false;
    let killer = setTimeout(() => { hung = true; child.kill('SIGKILL'); }, CHILD_KILL_MS);
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      stdout += chunk;
      if (resultAt === undefined && stdout.includes('\n')) {
        resultAt = performance.now();
        if (exitWithinMs !== undefined) {
          clearTimeout(killer);
          killer = setTimeout(() => { hung = true; child.kill('SIGKILL'); }, exitWithinMs);
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk; });
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      children.delete(child);
      let result;
      try {
        result = JSON.parse(stdout.trim().split('\n').pop());
      } catch {
        result = { noResult: true, stdout };
      }
      const now = performance.now();
      resolve({ result, code, signal, stderr, hung, ms: now - started, exitMs: resultAt === undefined ? undefined : now - resultAt });
    });
  });
}

/** Starts link-receivers.js (args for `ip`); resolves with its API once it is listening. */
function startReceivers(children, args) {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    const replies = replyChannel(child);
    const api = receiversApi(child, replies.request);
    let ready = false;
    onLines(child.stdout, (line) => {
      const message = JSON.parse(line);
      if (message.ready && !ready) {
        ready = true;
        resolve(api);
      } else {
        replies.answer(message);
      }
    });
    child.on('close', (code, signal) => {
      children.delete(child);
      const error = new Error(`link-receivers exited (${code ?? signal}): ${replies.stderr()}`);
      if (!ready) reject(error);
      replies.failAll(error);
    });
  });
}

/** Requests to link-receivers.js on its stdin, each settled by the reply line with its id. */
function replyChannel(child) {
  const waiting = new Map();
  let nextId = 1;
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk; });
  return {
    stderr: () => stderr,
    answer(message) {
      if (!waiting.has(message.id)) return;
      waiting.get(message.id)(message);
      waiting.delete(message.id);
    },
    failAll(error) {
      for (const settle of waiting.values()) settle({ error: error.message });
      waiting.clear();
    },
    // Rejects when the receivers answer with an error (a port in use) or are gone.
    request: (command) => new Promise((resolveReply, rejectReply) => {
      const settle = (reply) => (reply.error ? rejectReply(new Error(`link-receivers ${command.cmd}: ${reply.error}`)) : resolveReply(reply));
      if (child.exitCode !== null || child.signalCode !== null) {
        settle({ error: `already exited: ${stderr}` });
        return;
      }
      const id = nextId++;
      waiting.set(id, settle);
      child.stdin.write(`${JSON.stringify({ ...command, id })}\n`);
    }),
  };
}

function receiversApi(child, request) {
  return {
    request,
    /** Binds receivers on ports (IPv4 on b4, IPv6 on b6). */
    bind: (family, ports) => request({ cmd: 'bind', family, ports }),
    /** Closes the receivers on these ports: they become closed ports. */
    unbind: (family, ports) => request({ cmd: 'unbind', family, ports }),
    reset: () => request({ cmd: 'reset' }),
    /** Per-port summaries (see link-receivers.js). */
    stats: () => request({ cmd: 'stats' }),
    /** Waits until `total` datagrams have arrived in all, or `timeoutMs` passed; answers with stats either way. */
    waitFor: (total, timeoutMs = 10000) => request({ cmd: 'wait', total, timeoutMs }),
    /** Sorted member indices received for call sequence number seq, over all ports. */
    seen: (seq) => request({ cmd: 'seen', seq }),
    close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * The link of one test file: created before its tests, receivers bound on
 * `ports` in each of `families`, deleted after. `netTest` is `test`, or
 * `test.skip` without network namespaces; `env.link` and `env.rx` are set
 * once the file's tests run.
 */
function linkSuite(test, label, { rate, families = ['IPv4'], ports }) {
  const missing = available();
  const env = {};
  test.before(async () => {
    if (missing) return;
    env.link = createLink(rate ? { rate } : undefined);
    env.rx = await env.link.receivers();
    for (const family of families) {
      const bound = await env.rx.bind(family, ports);
      if (bound.bound !== ports.length) throw new Error(`receivers bound ${JSON.stringify(bound)}`);
    }
  });
  test.after(() => {
    env.rx?.close();
    env.link?.close();
  });
  return { netTest: testUnless(test, missing && `needs network namespaces (${missing})`, label), env };
}

module.exports = { ADDRESSES, available, createLink, linkMs, linkSuite, rateBits, senderFailure, wireBytes };
