// The members --to and --to-file name: read at start, re-read on a change
// of the file or on SIGHUP, the group kept by difference; what each re-read
// did is one line.
import * as fs from 'node:fs';
import type { RelayArgs } from './args';
import { UsageError, reason } from './errors';
import type { CliIO } from './io';
import { Members, Reconciled, parseMembersFile } from './members';
import type { Target } from './target';
import { plural, some } from './words';

export type Trigger = 'change' | 'SIGHUP';

/** --to-file's text, and its version: device, inode, size and times, which a write, a rename over it or a swapped symlink changes, and its neighbours' events do not. */
interface MembersText {
  text: string;
  version: string;
}

export class MemberReloader {
  readonly members = new Members();
  /** The file's text last read, to let a change that left it as it was do nothing (unless members were dropped since: it brings them back). */
  #lastText: string | undefined;
  /** The file's version last read: an event that did not change it (a neighbour's) restores no dropped member. */
  #lastVersion: string | undefined;
  /** The last complaint that the file could not be read, said once a run of changes. */
  #lastProblem: string | undefined;

  constructor(private readonly args: RelayArgs, private readonly io: CliIO) {}

  /** The members at start; a --to-file that cannot be read or has a malformed line is bad usage. */
  load(): Reconciled {
    return this.members.reconcile(this.args.to, this.args.toFile === undefined ? [] : this.#loadFile(this.args.toFile));
  }

  /** Re-reads --to-file (SIGHUP: even when unchanged); without one, SIGHUP restores the --to members dropped. */
  reload(trigger: Trigger): void {
    const file = this.args.toFile;
    if (file === undefined) {
      const { added } = this.members.reconcile(this.args.to, []);
      this.io.out(`SIGHUP: there is no --to-file to re-read; ${added.length ? `restored ${some(added)}, ` : ''}${this.#count()}`);
      return;
    }
    const read = this.#read(file, trigger);
    if (read === undefined) return;
    const { text, version } = read;
    // An unchanged text after a change of the file itself (saved again)
    // brings dropped members back; after a neighbour's event (the same
    // version) it does nothing. A text compared too: coarse file times may
    // leave an edit of the same length with the same version.
    const untouched = version === this.#lastVersion || !this.members.droppedSinceReconcile;
    this.#lastVersion = version;
    if (trigger === 'change' && text === this.#lastText && untouched) return;
    this.#lastText = text;
    const parsed = parseMembersFile(text, file, this.args.listen);
    if ('error' in parsed) {
      this.io.err(`rejected ${parsed.error}; keeping the previous ${this.#count()}`);
      return;
    }
    const { added, removed, duplicates } = this.members.reconcile(this.args.to, parsed.targets);
    this.io.out(`reloaded ${file} (${trigger}): +${added.length} -${removed.length}, ${this.#count()}` +
      (added.length ? `; added ${some(added)}` : '') + (removed.length ? `; removed ${some(removed)}` : '') +
      (duplicates ? `; ${plural(duplicates, 'duplicate')} ignored` : ''));
  }

  #loadFile(file: string): Target[] {
    let read: MembersText;
    try {
      read = readMembersFile(file);
    } catch (error) {
      throw new UsageError(`--to-file ${file}: cannot read it (${reason(error)})`);
    }
    const parsed = parseMembersFile(read.text, file, this.args.listen);
    if ('error' in parsed) throw new UsageError(`--to-file ${parsed.error}`);
    this.#lastText = read.text;
    this.#lastVersion = read.version;
    return parsed.targets;
  }

  /** The file's text and version, or undefined when it cannot be read (said on SIGHUP, or when the reason is new). */
  #read(file: string, trigger: Trigger): MembersText | undefined {
    try {
      const read = readMembersFile(file);
      this.#lastProblem = undefined;
      return read;
    } catch (error) {
      const problem = `--to-file ${file}: cannot read it (${reason(error)}); keeping the ${this.#count()}`;
      if (trigger === 'SIGHUP' || problem !== this.#lastProblem) this.io.err(problem);
      this.#lastProblem = problem;
      return undefined;
    }
  }

  #count(): string {
    return plural(this.members.group.size, 'member');
  }
}

/** Reads --to-file. Anything but a regular file is refused: a FIFO or a device could block the relay's only thread in the read. */
function readMembersFile(file: string): MembersText {
  // Checked before it is opened too: opening a device can have effects of its own.
  if (!fs.statSync(file).isFile()) throw new Error('not a regular file');
  // Non-blocking: a FIFO swapped in meanwhile would wait for a writer.
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  try {
    const stat = fs.fstatSync(fd, { bigint: true });
    if (!stat.isFile()) throw new Error('not a regular file');
    const text = fs.readFileSync(fd, 'utf8');
    return { text, version: `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}` };
  } finally {
    fs.closeSync(fd);
  }
}
