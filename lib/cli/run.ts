// `sendgroup relay` running: the relay wired to its members, the --to-file
// watch, the status lines and the signals; the totals when it stops.
import type { Relay, RelayStats } from '../relay';
import type { RelayArgs } from './args';
import type { CliIO } from './io';
import { MemberReloader } from './reload';
import { allowed, openRelay } from './start';
import { statusLine, summaryLines } from './status';
import { show } from './target';
import { UnreachableMembers } from './unreachable';
import { watchFile } from './watch';
import { plural } from './words';

/** Runs the relay until SIGINT or SIGTERM; resolves with the exit status. */
export async function runRelay(args: RelayArgs, io: CliIO): Promise<number> {
  const reloader = new MemberReloader(args, io);
  // Watched before the first read: an edit between the two is not lost.
  const stopWatching = args.toFile !== undefined && args.watch ? watchFile(args.toFile, io, () => reloader.reload('change')) : () => {};
  try {
    const initial = reloader.load();
    const relay = openRelay(args, reloader.members.group);
    return new RelayCommand(args, io, relay, reloader, stopWatching).run(initial.duplicates);
  } catch (error) {
    stopWatching();
    throw error;
  }
}

class RelayCommand {
  readonly #startStats: RelayStats;
  readonly #unreachable: UnreachableMembers;
  readonly #started: bigint;
  readonly #timer: NodeJS.Timeout;
  #stopping = false;

  constructor(
    private readonly args: RelayArgs,
    private readonly io: CliIO,
    private readonly relay: Relay,
    private readonly reloader: MemberReloader,
    private readonly stopWatching: () => void,
  ) {
    this.#startStats = relay.stats();
    this.#unreachable = new UnreachableMembers(reloader.members, args.dropUnreachable, args.statsInterval > 0, io);
    relay.on('unreachable', (event) => this.#unreachable.onEvent(event));
    this.#started = process.hrtime.bigint();
    this.#timer = this.#startStatusLines();
  }

  /** Says where it listens; resolves with the exit status once a signal stopped it. */
  run(duplicates: number): Promise<number> {
    // Signals are handled before the first line: whoever reads it may send one at once.
    const stopped = this.#untilStopped();
    this.#announce(duplicates);
    return stopped;
  }

  /** A status line per --stats-interval. The timer also keeps the process alive until a signal stops it, whatever handles the relay holds. */
  #startStatusLines(): NodeJS.Timeout {
    if (this.args.statsInterval === 0) return setInterval(() => {}, 0x7fffffff);
    let before = this.#startStats;
    let beforeAt = this.#started;
    return setInterval(() => {
      const now = this.relay.stats();
      const at = process.hrtime.bigint();
      this.io.out(statusLine(now, before, Number(at - beforeAt) / 1e9, this.#unreachable.endInterval()));
      before = now;
      beforeAt = at;
    }, this.args.statsInterval * 1000);
  }

  /**
   * SIGHUP re-reads the members; SIGINT or SIGTERM closes the relay (a second one exits at once).
   * SIGHUP keeps its listener to the end, doing nothing once stopping: without one, its default action would end the drain.
   */
  #untilStopped(): Promise<number> {
    return new Promise((resolve) => {
      const onHup = (): void => {
        if (this.#stopping) this.io.out('SIGHUP: stopping; the members are not re-read');
        else this.reloader.reload('SIGHUP');
      };
      const stop = (signal: NodeJS.Signals): void => {
        if (this.#stopping) {
          this.io.err(`${signal} again: exiting without waiting for the sends in flight`);
          process.exit(1);
        }
        this.#stopping = true;
        clearInterval(this.#timer);
        this.stopWatching();
        this.io.out(`${signal}: stopped receiving; the sends in flight finish first (${signal} again exits at once)`);
        this.relay.close().then(() => {
          this.#summarize(signal);
          process.removeListener('SIGINT', stop);
          process.removeListener('SIGTERM', stop);
          resolve(0);
        }, (error: Error) => {
          this.io.err(`closing the relay failed: ${error.message}`);
          resolve(1);
        });
      };
      process.on('SIGHUP', onHup);
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
  }

  #summarize(signal: NodeJS.Signals): void {
    const total = this.relay.stats();
    const seconds = Number(process.hrtime.bigint() - this.#started) / 1e9;
    const ending = { signal, seconds, total, members: this.reloader.members.group.size, droppedUnreachable: this.#unreachable.dropped };
    for (const line of summaryLines(ending)) this.io.out(line);
  }

  /** The first line (where, how, from whom, how many members), and warnings about --allow any and no members. */
  #announce(duplicates: number): void {
    const { args, io } = this;
    const bound = this.relay.address();
    const where = show(bound.address, bound.port, bound.family);
    const threads = args.threads ?? (process.env.SENDGROUP_THREADS ? Number(process.env.SENDGROUP_THREADS) : 0);
    const allow = allowed(args);
    const members = this.reloader.members.group.size;
    io.out(`listening on ${where}, backend ${this.#startStats.backend}, ` +
      `${threads ? plural(threads, 'thread') : 'inline'}, zero-copy ${args.zeroCopy ? 'always' : 'auto'}, ` +
      `allow ${allow === 'any' ? allow : allow.join(',')}, ${plural(members, 'member')}` +
      (duplicates ? ` (${plural(duplicates, 'duplicate')} ignored)` : ''));
    if (args.allow === 'any' && !/^(127\.|::1$)/.test(args.listen.address)) {
      io.err(`warning: --allow any: whoever can reach ${where} can make this relay send to every member`);
    }
    if (members === 0) io.err(`warning: no members yet: datagrams are dropped until ${args.toFile} names some`);
  }
}
