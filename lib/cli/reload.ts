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

export class MemberReloader {
  readonly members = new Members();
  /** The file's text last read, to let a change that left it as it was do nothing (unless members were dropped since: it brings them back). */
  #lastText: string | undefined;
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
    const text = this.#read(file, trigger);
    const unchanged = trigger === 'change' && text === this.#lastText && !this.members.droppedSinceReconcile;
    if (text === undefined || unchanged) return;
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
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new UsageError(`--to-file ${file}: cannot read it (${reason(error)})`);
    }
    const parsed = parseMembersFile(text, file, this.args.listen);
    if ('error' in parsed) throw new UsageError(`--to-file ${parsed.error}`);
    this.#lastText = text;
    return parsed.targets;
  }

  /** The file's text, or undefined when it cannot be read (said on SIGHUP, or when the reason is new). */
  #read(file: string, trigger: Trigger): string | undefined {
    try {
      const text = fs.readFileSync(file, 'utf8');
      this.#lastProblem = undefined;
      return text;
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
