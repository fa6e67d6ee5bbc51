// What runs: scenarios by name, the methods each compares, and which C rows
// serve as its "kernel limit" reference.
'use strict';

// C reference candidates per kind of send; ×C compares with the fastest of
// them (by median) in the same scenario and sink, round by round.
const C_COPY = ['c-sendmmsg', 'c-uring', 'c-uring-send'];
const C_ZC = ['c-uring-zc'];
const C_SPLIT = ['c-sendmmsg'];
const C_GSO = ['c-sendmmsg-gso', 'c-uring-gso'];
const C_GSO_ZC = ['c-uring-zc-gso'];
// threads: the C program with the same design (two threads, two rings, a
// socket each), and each C candidate compared with itself.
const C_THREADS = ['c-uring-threads'];

// ref: the C candidates; refZc: used instead when the run zero-copied
// (sg-auto decides per payload size, so its reference follows its choice).
const m = (name, ref, refZc) => ({ name, ref, refZc: refZc ?? ref });

const sweep = [m('dgram', C_COPY), m('sg-copy', C_COPY), m('sg-mmsg', C_COPY), m('c-sendmmsg', C_COPY), m('c-uring', C_COPY)];
const full = [
  m('dgram', C_COPY), m('sg-copy', C_COPY), m('sg-zc', C_ZC), m('sg-auto', C_COPY, C_ZC), m('sg-mmsg', C_COPY),
  m('c-sendmmsg', C_COPY), m('c-uring', C_COPY), m('c-uring-send', C_COPY), m('c-uring-zc', C_ZC),
];

const zcSweep = full.filter((x) => ['dgram', 'sg-copy', 'sg-zc', 'c-uring-send', 'c-uring-zc'].includes(x.name));

// The link sink (a tbf that pushes back): every C row paces itself with
// poll(POLLOUT) there. Zero-copy only in the steady stream (1,200 B is below
// where 'auto' starts; it shows what a forced zero-copy costs on a link).
const link = ['dgram', 'sg-copy', 'sg-zc', 'sg-mmsg', 'c-sendmmsg', 'c-uring-send', 'c-uring-zc'];
const linkStream = full.filter((x) => link.includes(x.name));
const linkLive = linkStream.filter((x) => !x.name.endsWith('-zc'));
const LINK_SECONDS = 1.5; // measured per run: at 100 Mbit/s a 1,000-member call is 0.1 s of link time
const linkScenario = (name, rate, members, payload, methods, about) => ({
  name, members, payload, methods, sinks: ['link'], linkRate: rate, duration: LINK_SECONDS, about,
});

// threads: K, on the NIC-like sink (veth-silent: every packet freed, like a
// NIC that took it). 'threads' (10,000 members) holds the goals and the C
// candidates for sending from several cores; 'threads-n*' sweep N for the
// crossover. Rows with loopDelay also measure the event loop's delay (a
// 1-ms timer, which itself costs the threaded rows CPU: so those rows are
// apart from the ones the wall rate and CPU goals read).
// c-uring-sqpoll: the other hop, a kernel thread polling the ring (no wake-up while it polls).
// Variants under their own names: sgref with more arguments; the worker
// with more Sender options (sender), calls in flight (window), or the
// event loop's delay (loopDelay; for C rows: --tick-ms 1).
const cVariant = (name, method, args, more) => ({ ...m(name, [name]), sgref: { method, args }, ...more });
const sgVariant = (name, worker, ref, more) => ({ ...m(name, ref), worker, ...more });
// sg-threads-hop: every call to the threads, however small (inlineBelow: 0): the hop itself.
const threadsSweepMethods = [m('sg-copy', C_COPY), m('sg-threads', C_THREADS),
  sgVariant('sg-threads-hop', 'sg-threads', C_THREADS, { sender: { inlineBelow: 0 } }), m('c-uring-send', C_COPY),
  m('c-uring-threads', C_THREADS), m('c-uring-sqpoll', ['c-uring-sqpoll'])];
const threadsFull = [
  m('dgram', C_COPY), m('sg-copy', C_COPY), m('sg-threads', C_THREADS), m('sg-threads1', ['c-uring-threads1']),
  m('sg-mmsg-threads', ['c-sendmmsg-threads']), sgVariant('sg-threads-w2', 'sg-threads', C_THREADS, { window: 2 }),
  sgVariant('sg-copy-loop', 'sg-copy', C_COPY, { loopDelay: true }),
  sgVariant('sg-threads-loop', 'sg-threads', C_THREADS, { loopDelay: true }),
  m('c-uring-send', C_COPY), m('c-sendmmsg', C_COPY),
  ...['c-uring-threads', 'c-uring-threads1', 'c-uring-threads-shared', 'c-sendmmsg-threads', 'c-uring-sqpoll', 'c-uring-sqpoll2',
    'c-uring-async'].map((name) => m(name, [name])),
  cVariant('c-uring-threads-d256', 'uring-threads', ['--depth', '256']),
  cVariant('c-uring-threads-loop', 'uring-threads', [], { loopDelay: true }),
  cVariant('c-uring-threads-idle', 'uring-threads', ['--depth', '256', '--worker-sched', 'idle'], { loopDelay: true }),
];
const threadsSweep = (n) => ({ name: `threads-n${n}`, members: n, payload: 1200, methods: threadsSweepMethods, sinks: ['veth-silent'],
  perCall: true, targets: 'one-port', about: `threads: 2 against inline at N=${n}: where the thread hop starts to pay` });

/** Every scenario, in run order. members x payload bytes; segment cuts the payload (burst). */
const SCENARIOS = [
  { name: 'n1', members: 1, payload: 1200, methods: sweep, sinks: ['loopback'],
    about: 'one member, 1,200 B: one sendGroup vs one dgram.send' },
  { name: 'n10', members: 10, payload: 1200, methods: sweep, sinks: ['loopback'], about: 'N sweep at 1,200 B' },
  { name: 'n100', members: 100, payload: 1200, methods: sweep, sinks: ['loopback'], about: 'N sweep at 1,200 B' },
  { name: 'n1000', members: 1000, payload: 1200, methods: full, sinks: ['loopback', 'veth', 'veth-silent'],
    about: 'N sweep and payload sweep at N=1,000, 1,200 B (the headline)' },
  { name: 'n10000', members: 10000, payload: 1200, methods: sweep, sinks: ['loopback', 'veth'], about: 'N sweep at 1,200 B' },
  { name: 'p64', members: 1000, payload: 64, methods: sweep, sinks: ['loopback'], about: 'payload sweep at N=1,000' },
  { name: 'p8192', members: 1000, payload: 8192, methods: full,
    sinks: ['loopback', 'veth', 'veth-silent'], about: 'payload sweep at N=1,000: zero-copy territory' },
  { name: 'p2048', members: 1000, payload: 2048, methods: zcSweep, sinks: ['veth-silent'],
    about: 'where zero-copy starts to pay: 2,048 B on a NIC-like sink' },
  { name: 'p4096', members: 1000, payload: 4096, methods: zcSweep, sinks: ['veth-silent'],
    about: 'where zero-copy starts to pay: 4,096 B on a NIC-like sink' },
  { name: 'p8192-mtu1500', members: 1000, payload: 8192, sinks: ['veth'], vethMtu: 1500,
    about: 'p8192 on a 1,500-B MTU link: each datagram leaves as 6 IP fragments',
    methods: full.filter((x) => ['dgram', 'sg-copy', 'sg-zc', 'sg-auto', 'c-uring', 'c-uring-zc'].includes(x.name)) },
  { name: 'burst', members: 1000, payload: 48000, segment: 1200, sinks: ['loopback', 'veth'],
    about: '48,000-B frame in 1,200-B datagrams to 1,000 members (40 datagrams each)',
    methods: [
      m('dgram', C_SPLIT), m('sg-copy', C_SPLIT), m('sg-gso', C_GSO), m('sg-gso-zc', C_GSO_ZC),
      m('c-sendmmsg', C_SPLIT), m('c-sendmmsg-gso', C_GSO), m('c-uring-gso', C_GSO), m('c-uring-zc-gso', C_GSO_ZC),
    ] },
  { name: 'threads', members: 10000, payload: 1200, methods: threadsFull, sinks: ['veth-silent'], perCall: true, targets: 'one-port',
    about: 'threads: 2 against inline and the C candidates for sending from several cores, 10,000 members' },
  ...[10, 100, 1000, 3000].map(threadsSweep),
  linkScenario('stream-1g', '1gbit', 1000, 1200, linkStream,
    'steady stream over a 1 Gbit/s link: successive calls, each 1,200 B to 1,000 members'),
  linkScenario('live-1g', '1gbit', 100, 1316, linkLive,
    'live stream over a 1 Gbit/s link: one call per 1,316-B packet (7 MPEG-TS packets) to 100 members'),
  linkScenario('stream-100m', '100mbit', 1000, 1200, linkStream,
    'steady stream over a 100 Mbit/s link: successive calls, each 1,200 B to 1,000 members'),
  linkScenario('live-100m', '100mbit', 100, 1316, linkLive,
    'live stream over a 100 Mbit/s link: one call per 1,316-B packet to 100 members'),
];

// stream-1g runs only on the link sink (--quick --sink link); the others on loopback.
const QUICK = ['n1', 'n1000', 'p8192', 'burst', 'stream-1g'];

const DESCRIPTIONS = {
  dgram: 'node:dgram socket.send(payload, port, address, cb) per member and datagram (baseline)',
  'sg-copy': 'sendgroup, zeroCopy: false (burst: one sendGroup per 1,200-B slice, all in flight)',
  'sg-zc': 'sendgroup, zeroCopy: true (SEND_ZC from a registered slot)',
  'sg-auto': "sendgroup, zeroCopy: 'auto' (the default: zero-copy from AUTO_ZERO_COPY_MIN_BYTES)",
  'sg-mmsg': "sendgroup, backend: 'sendmmsg' (the fallback where io_uring is blocked), zeroCopy: false",
  'sg-gso': 'sendgroup, segmentSize: 1200 (UDP GSO), zeroCopy: false',
  'sg-gso-zc': 'sendgroup, segmentSize: 1200, zeroCopy: true (what auto picks for 48,000 B)',
  'c-sendmmsg': 'C: sendmmsg(2) loop, 1,024 messages per call (link sink: MSG_DONTWAIT, poll(POLLOUT) when full)',
  'c-uring': 'C: io_uring IORING_OP_SENDMSG per message, one batch',
  'c-uring-send': 'C: io_uring IORING_OP_SEND with destination address, one batch (link sink: MSG_DONTWAIT, EAGAIN ones again after poll(POLLOUT))',
  'c-uring-zc': 'C: io_uring SEND_ZC from a registered buffer',
  'c-sendmmsg-gso': 'C: sendmmsg(2) with UDP_SEGMENT=1200',
  'c-uring-gso': 'C: io_uring SENDMSG with UDP_SEGMENT=1200',
  'c-uring-zc-gso': 'C: io_uring SENDMSG_ZC (registered buffer) with UDP_SEGMENT=1200',
  'sg-threads': 'sendgroup, threads: 2 (two native threads, each its own ring and socket), zeroCopy: false',
  'sg-threads1': 'sendgroup, threads: 1 (the hop to a native thread, no parallelism), zeroCopy: false',
  'sg-mmsg-threads': "sendgroup, threads: 2, backend: 'sendmmsg', zeroCopy: false",
  'c-uring-threads': 'C: 2 threads, each its own ring (IORING_OP_SEND) and socket (SO_REUSEPORT), members split by destination',
  'c-uring-threads1': 'C: the same with 1 thread (the hop alone)',
  'c-uring-threads-shared': 'C: 2 threads, each its own ring, one shared socket',
  'c-sendmmsg-threads': 'C: 2 threads, sendmmsg(2) each on its own socket (SO_REUSEPORT)',
  'c-uring-sqpoll': 'C: 1 SQPOLL ring (a kernel thread polls the SQ and sends), filled by the main thread',
  'c-uring-sqpoll2': 'C: 2 SQPOLL rings, each its own socket, filled by the main thread',
  'c-uring-async': 'C: 1 ring, every SQE IOSQE_ASYNC: at most 2 io-wq workers send',
  'sg-threads-hop': 'sg-threads with inlineBelow: 0: every call goes to the threads, however small (the hop itself)',
  'sg-threads-w2': 'sg-threads with 2 calls in flight (the next call is copied and split while the last one is sent)',
  'sg-copy-loop': 'sg-copy, measuring the event loop delay (monitorEventLoopDelay, 1-ms resolution)',
  'sg-threads-loop': 'sg-threads, measuring the event loop delay (monitorEventLoopDelay, 1-ms resolution)',
  'c-uring-threads-loop': 'c-uring-threads whose main thread also wakes every 1 ms and logs how late (the scheduler\'s share of the loop delay)',
  'c-uring-threads-d256': 'c-uring-threads with rings of 256 entries (submissions of at most 256 sends)',
  'c-uring-threads-idle': 'c-uring-threads-loop with rings of 256 entries and the sending threads in SCHED_IDLE (the main thread preempts them at once)',
};

function datagramsPerCall(scenario) {
  return scenario.members * (scenario.segment ? Math.ceil(scenario.payload / scenario.segment) : 1);
}

module.exports = { SCENARIOS, QUICK, DESCRIPTIONS, datagramsPerCall };
