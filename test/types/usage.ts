// Type-level test of the published declarations (test/85.types.js compiles
// it, nothing runs it): what a user writes must type-check, and each line
// under @ts-expect-error must not.
import { AUTO_ZERO_COPY_MIN_BYTES, Group, MAX_SEND_BYTES, Relay, Sender, probe, sendGroup } from 'sendgroup';
import type { Completion, ErrorCode, Member, ProbeResult, RelayOptions, RelayStats, SendFailure, SendReport, UnreachableEvent } from 'sendgroup';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function expect<T extends true>(): T | void {}

// Group: two forms of add(), as overloads.
const viewers = new Group(['127.0.0.1:5004', '[::1]:5004', { address: '127.0.0.1', port: 5006 }]);
const id: number = viewers.add('127.0.0.1:5008');
viewers.add({ address: '::1', port: 5008 });
viewers.add('127.0.0.1', 5010);
// @ts-expect-error a port goes with an address string, not with a target
viewers.add({ address: '127.0.0.1', port: 5006 }, 6);
// @ts-expect-error ports are numbers
viewers.add('127.0.0.1', '5010');
// @ts-expect-error an object target needs its port
viewers.add({ address: '127.0.0.1' });
// @ts-expect-error add() takes one recipient
viewers.add(['127.0.0.1:5004']);
viewers.remove(id) satisfies boolean;
const members: Member[] = [...viewers];
expect<Equal<Member['family'], 'IPv4' | 'IPv6'>>();
// @ts-expect-error members are read-only
members[0]!.port = 1;

// Payloads and send options.
async function send(sender: Sender, group: Group): Promise<void> {
  const frame = Buffer.alloc(1316);
  await sender.sendGroup(group, frame, { prefix: { data: Buffer.alloc(12 * group.size), stride: 12 } });
  await sender.sendGroup(group, 'text', { prefix: [...group].map(() => new Uint8Array(4)), suffix: [] });
  await sender.sendGroup(['127.0.0.1:5004', { address: '::1', port: 5004 }], new DataView(new ArrayBuffer(4)));
  await sender.sendGroup(group, new ArrayBuffer(8), { zeroCopy: 'auto', segmentSize: 1200, signal: AbortSignal.timeout(50) });
  await sendGroup(group, new Float64Array(2), { zeroCopy: true });
  // @ts-expect-error a number is not a payload
  await sender.sendGroup(group, 42);
  // @ts-expect-error zeroCopy is true, false or 'auto'
  await sender.sendGroup(group, frame, { zeroCopy: 'always' });
  // @ts-expect-error a prefix is per member: an array or { data, stride }
  await sender.sendGroup(group, frame, { prefix: Buffer.alloc(12) });
  // @ts-expect-error unknown options are refused
  await sender.sendGroup(group, frame, { segmentsize: 1200 });
  // @ts-expect-error a target needs a port
  await sender.sendGroup([{ address: '127.0.0.1' }], frame);
}

// Reports: failures carry a code from a union that still takes any string.
async function report(sender: Sender, group: Group): Promise<void> {
  const result: SendReport = await sender.sendGroup(group, 'x');
  const first: SendFailure | undefined = result.errors[0];
  if (first) {
    switch (first.code) {
      case 'ECANCELED': case 'ENOBUFS': case 'EACCES': case 'EINVAL': case 'EMSGSIZE': case 'EAFNOSUPPORT': break;
      case 'ENETUNREACH': case 'EHOSTUNREACH': case 'ECONNREFUSED': case 'EPERM': break;
      case 'ESOMETHINGELSE': break;
    }
  }
  expect<Equal<Extract<ErrorCode, 'ECANCELED'>, 'ECANCELED'>>();
  // @ts-expect-error codes are strings
  const notACode: ErrorCode = 5;
  // @ts-expect-error the report is read-only
  result.errors.push(first!);
  const zeroCopy: 'off' | 'zero-copied' | 'copied' = result.zeroCopy;
  void notACode; void zeroCopy;
}

// streamGroup: Completion is discriminated on ok.
async function stream(sender: Sender, group: Group): Promise<void> {
  for await (const completion of sender.streamGroup(group, 'x') satisfies AsyncIterable<Completion>) {
    completion.error?.code;
    // @ts-expect-error error may be absent until ok is checked
    completion.error.code;
    if (!completion.ok) {
      const code: ErrorCode = completion.error.code;
      const bytes: 0 = completion.bytes;
      void code; void bytes;
    } else {
      const bytes: number = completion.bytes;
      // @ts-expect-error a sent member has no error
      completion.error.code;
      void bytes;
    }
  }
}

// The sender's life: options, events, what it tells.
async function life(): Promise<void> {
  const sender = new Sender({ backend: 'auto', bind: { address: '::', port: 0 }, zeroCopy: 'auto', queueDepth: 256, slots: 8 });
  // @ts-expect-error unknown options are refused
  new Sender({ queueDepht: 256 });
  // @ts-expect-error backends are named
  new Sender({ backend: 'epoll' });
  sender.on('unreachable', (event: UnreachableEvent) => {
    const code: ErrorCode = event.code;
    const where: [string, number, 'IPv4' | 'IPv6'] = [event.address, event.port, event.family];
    void code; void where;
  });
  const backend: 'io_uring' | 'sendmmsg' = sender.backend;
  const queueDepth: number = sender.features.queueDepth;
  const port: number = sender.address().port;
  await sender.close();
  void backend; void queueDepth; void port;
  // AsyncDisposable: closed at the end of the scope.
  await using scoped = new Sender();
  scoped.address() satisfies { port: number };
  // @ts-expect-error closing is asynchronous: `await using`, not `using`
  using wrong = new Sender();
  void wrong;
}

// Relay: the Sender's options but bind, socket's form and slots (it sends from its receive buffers).
async function relaying(): Promise<void> {
  const options: RelayOptions = { listen: '127.0.0.1:5000', allow: ['10.0.0.1'], group: viewers, threads: 2, buffers: 512 };
  const relay = new Relay(options);
  const stats: RelayStats = relay.stats();
  const forwarded: number = stats.forwarded + stats.dropped.notAllowed;
  // @ts-expect-error a relay has no payload slots
  const slotted: RelayOptions = { listen: '127.0.0.1:5000', allow: 'any', group: viewers, slots: 4 };
  // @ts-expect-error listen says where, not bind
  const bound: RelayOptions = { bind: { address: '127.0.0.1' }, allow: 'any', group: viewers };
  // @ts-expect-error allow is required
  const open: RelayOptions = { listen: '127.0.0.1:5000', group: viewers };
  await relay.close();
  void forwarded; void slotted; void bound; void open;
}

const found: ProbeResult = probe();
const reason: string | undefined = found.reasons.ioUring;
const limits: number[] = [MAX_SEND_BYTES, AUTO_ZERO_COPY_MIN_BYTES];
void send; void report; void stream; void life; void relaying; void reason; void limits;
