// bench/results/relay.md: what bench/relay.js measured, on what, and how.
'use strict';
const { execFileSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const { cpuTable, ratioTable } = require('./report');

const ROOT = path.join(__dirname, '..', '..');

function gitState() {
  try {
    const git = (args) => execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = git(['status', '--porcelain', '--', 'lib', 'native']) ? ' (lib/ or native/ with uncommitted changes)' : '';
    return `${git(['rev-parse', '--short', 'HEAD'])}${dirty}`;
  } catch {
    return 'unknown';
  }
}

function machine() {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} CPUs, Linux ${os.release()}, Node.js ${process.version}, sendgroup ${gitState()}`;
}

function method(plan) {
  const rates = plan.memberCounts.map((m) => `${m}: ${Math.min(plan.maxRate, plan.memberRate / m).toLocaleString('en-US')}/s`).join(', ');
  return `## Method

- **Network.** Everything runs inside a network namespace \`bench/relay.js\`
  creates and deletes. The source sends to the relays on the namespace's own
  loopback (127.0.0.1). Members are ${plan.memberCounts.join(', ')} addresses in
  198.19.0.0/16, routed via a static next hop (no ARP) out of a veth end whose
  peer is never brought up: without carrier the kernel gives that end the noop
  qdisc, which frees every packet and answers success. A send costs the whole
  IP/UDP transmit path up to the qdisc (route, neighbour, skb, copy of the
  payload); nobody receives, so no receive work is charged to the relay. No
  route leads out of the namespace. The namespace's UDP \`OutDatagrams\`
  counter (minus the source's datagrams) is checked against each relay's own
  count of sends.
- **Source.** \`bench/relay/source.c\` (cc -O2) sends ${plan.size}-byte datagrams,
  each starting with its 64-bit sequence number, evenly spaced (it sleeps until
  each one is due, timer slack 1 us; when it falls behind it sends what is due
  in one sendmmsg of up to 64). Two loads:
  - *paced*: ${plan.memberRate.toLocaleString('en-US')} member-datagrams a second, at most
    ${plan.maxRate.toLocaleString('en-US')} datagrams a second (${rates}): below what the slowest
    relay takes, so every variant forwards everything at the same offered
    load. This is a relay's ordinary life: it wakes for every datagram or few.
  - *saturated*: ${plan.saturatedRate.toLocaleString('en-US')} datagrams a second, more than any relay
    forwards: the relay is always busy and batches as much as it can; what it
    forwards a second is its capacity on one core, and the kernel drops the
    rest at its socket ("lost"). Both cores are busy then (source and relay),
    so these figures are noisier.

  The source's loopback transmit also runs the relay socket's receive path
  (softirq in the source's own context), so that is charged to the source,
  alike for every variant; its CPU is the "source CPU" column.
- **Relays.** \`relay-native\`: \`new Relay({ listen, allow, group, backend:
  'io_uring' })\`; \`relay-native-mmsg\`: the same with \`backend: 'sendmmsg'\`;
  \`relay-native-threads\`: \`relay-native\` with \`threads: 2\` (\`inlineBelow\` at its
  default, 100: below that a datagram is sent from the relay's own thread);
  \`relay-js-sendgroup\`: a dgram socket's \`'message'\` handler calls
  \`sender.sendGroup(group, msg)\` on a \`Sender({ socket })\` of that socket
  (io_uring), counting each report; \`relay-dgram\`: the \`'message'\` handler
  calls \`socket.send(msg, port, address)\` per member; \`relay-c\`
  (\`bench/relay/relayref.c\`, cc -O2): recvmmsg of up to 64 datagrams
  (MSG_WAITFORONE), then sendmmsg of every (datagram, member) pair, batched
  across datagrams, up to 1,024 per call. All forward only from 127.0.0.1, from
  the socket they receive on (bench/relay/node-relay.js).
- **What is measured.** Each relay is its own process, started once per
  member count and warmed up (${plan.warmup} s of paced traffic). A measurement reads
  the relay's CPU time (getrusage: utime + stime of the whole process, every
  thread) and its own counters, runs the source (paced ${plan.paced.seconds} s,
  saturated ${plan.saturated.seconds} s), waits until the
  relay's counters stop moving, and reads them again. CPU per member-datagram
  = CPU time / member sends the relay counted (for the native Relay
  \`stats().sends\`, which is \`forwarded\` x members when nothing fails).
  "per relay CPU-second" is 1 s / that: the member-datagrams one fully busy
  core would forward at this batching. "relay CPU" is the relay's CPU time
  over the source's wall time.
- **Noise.** ${plan.paced.rounds} rounds paced, then ${plan.saturated.rounds} saturated, per member count; each round measures every
  variant once, the order reversed every other round (A B C D E, E D C B A, ...),
  so drift hits each alike. Ratios are taken within each round, then their
  median and range reported. Before each measurement the driver waits until
  no other benchmark (\`bench/run.js\`) is running.
`;
}

const TITLES = { paced: 'Paced load (every relay forwards everything)', saturated: 'Saturated (each relay forwards what one core can)' };

function loadSection(load, rows, ratioList) {
  const of = (list) => list.filter((x) => x.load === load);
  return `## ${TITLES[load] ?? load}

${cpuTable(of(rows))}

Goals, each ratio of CPU per member-datagram taken within a round:

${ratioTable(of(ratioList))}
`;
}

/** The whole document. */
function renderDocument({ rows, ratioList, problems, plan }) {
  const anomalies = problems.length ? problems.map((p) => `- ${p}`).join('\n')
    : '- none: no send failed, the paced loads lost nothing, and the kernel counted every send the relays counted';
  const loads = [...new Set(rows.map((r) => r.load))];
  return `# Relay: CPU per forwarded datagram

Generated by \`node bench/relay.js\` (${new Date().toISOString().slice(0, 10)}), ${machine()}.
CPU time of the relay process per member-datagram it forwarded (one
datagram sent to one member); lower is better.

${loads.map((load) => loadSection(load, rows, ratioList)).join('\n')}
## Counters that disagree

${anomalies}

${method(plan)}`;
}

module.exports = { renderDocument };
