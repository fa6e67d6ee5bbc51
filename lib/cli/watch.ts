// Watching --to-file: its directories, not the file. An editor that saves by
// rename replaces the file watched (a watch on it would see no more
// changes); a symlink's target may live elsewhere; a directory on the way
// may be removed and made again, or be a symlink swapped to another release
// (current -> releases/N, at any depth). So the file's directory is watched
// (as named, and as its symlinks resolve) and every directory above it for
// the name of the next one down; after every change the watches are set up
// again for what the path now leads to. Any event calls back once things
// settle, or, while only other files beside it keep changing, a second
// after the first event (the re-read does nothing unless the file changed);
// while the file itself keeps being replaced whole (a controller renaming a
// new one over it several times a second), at most MAX_OWN_WAIT_MS after
// the first. A file written in place is waited for until it settles: read
// before, it would be half written.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { reason } from './errors';
import type { CliIO } from './io';

/** How long after the last event the file is re-read... */
const DEBOUNCE_MS = 200;
/** ...and at the latest after the first one, unless the file itself is still being written: a directory that never settles (a log written beside the file) must not hold an edit back. */
const MAX_WAIT_MS = 1000;
/** ...and at the very latest, unless it is written in place: a file replaced more often than DEBOUNCE_MS had never been re-read while that went on. */
const MAX_OWN_WAIT_MS = 2000;

/** Per directory to watch, the names in it that matter; undefined: all. */
type WatchPlan = Map<string, Set<string> | undefined>;

/** Calls `onChange` after events in the directories of `file`; failures to watch are warnings. Returns the stop. */
export function watchFile(file: string, io: CliIO, onChange: () => void): () => void {
  const watch = new FileWatch(file, io, onChange);
  return () => watch.stop();
}

class FileWatch {
  #debounce: NodeJS.Timeout | undefined;
  /** When the first event not yet acted on came, and the last one naming the file (performance.now()). */
  #firstEventAt: number | undefined;
  #lastOwnEventAt = -Infinity;
  /** Whether the file itself was written (not replaced) since the first event not yet acted on. */
  #writtenInPlace = false;
  /** The file's name, as given and as it resolves: events in its directories that name anything else are a neighbour's. */
  #ownNames = new Set<string>();
  /** The file's real path when it last resolved: a directory of it removed is watched for as it was. */
  #resolved: string | undefined;
  #watchers: fs.FSWatcher[] = [];
  /** Directories already said to be unwatchable. */
  readonly #warned = new Set<string>();

  constructor(readonly file: string, readonly io: CliIO, readonly onChange: () => void) {
    this.#rewatch();
  }

  stop(): void {
    clearTimeout(this.#debounce);
    for (const watcher of this.#watchers) watcher.close();
  }

  #rewatch(): void {
    for (const watcher of this.#watchers) watcher.close();
    const plan = planFor(this.file, this.#resolved);
    this.#ownNames = plan.ownNames;
    this.#resolved = plan.resolved;
    this.#watchers = [...plan.dirs].flatMap(([dir, names]) => this.#watchDirectory(dir, names));
  }

  /** own: the file itself changed (else a directory above it); inPlace: written, not replaced. */
  #schedule(own: boolean, inPlace: boolean): void {
    const now = performance.now();
    this.#firstEventAt ??= now;
    if (own) this.#lastOwnEventAt = now;
    if (own && inPlace) this.#writtenInPlace = true;
    const settled = Math.min(now + DEBOUNCE_MS, Math.max(this.#firstEventAt + MAX_WAIT_MS, this.#lastOwnEventAt + DEBOUNCE_MS));
    const due = this.#writtenInPlace ? settled : Math.min(settled, this.#firstEventAt + MAX_OWN_WAIT_MS);
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#firstEventAt = undefined;
      this.#writtenInPlace = false;
      this.#rewatch();
      this.onChange();
    }, due - now);
  }

  /** A watcher on `dir`, or none (said once per directory) when it cannot be watched; a missing one is not said: a watch above sees it made again. */
  #watchDirectory(dir: string, names: Set<string> | undefined): fs.FSWatcher[] {
    const unseen = names ? `${[...names].map((name) => path.join(dir, name)).join(' or ')} replaced` : 'changes';
    const warn = (error: NodeJS.ErrnoException, what: string): void => {
      if (error.code === 'ENOENT' || this.#warned.has(dir)) return;
      this.#warned.add(dir);
      this.io.err(`warning: ${what} (${reason(error)}): after ${unseen}, re-read ${this.file} with SIGHUP`);
    };
    try {
      const watcher = fs.watch(dir, { persistent: false }, (event, name) => {
        // A directory on the path (names: the next one down), or the file's own: a name that is not known counts as its own.
        if (names) {
          if (name === null || names.has(String(name))) this.#schedule(true, false);
        } else {
          this.#schedule(name === null || this.#ownNames.has(String(name)), event === 'change');
        }
      });
      watcher.on('error', (error: NodeJS.ErrnoException) => {
        warn(error, `watching ${dir} failed`);
        watcher.close();
      });
      return [watcher];
    } catch (error) {
      warn(error as NodeJS.ErrnoException, `cannot watch ${dir}`);
      return [];
    }
  }
}

/**
 * The file's directory as named and as resolved (or, while it does not
 * resolve, as it last did: a symlink's target directory removed and made
 * again), all of each; every directory above them, for one name; the
 * file's own names.
 */
function planFor(file: string, lastResolved: string | undefined): { dirs: WatchPlan; ownNames: Set<string>; resolved: string | undefined } {
  const dirs: WatchPlan = new Map();
  const ownNames = new Set([path.basename(file)]);
  addPath(dirs, path.dirname(path.resolve(file)));
  let resolved = lastResolved;
  try {
    resolved = fs.realpathSync(file);
  } catch { /* gone meanwhile: the re-read says so, and a watch above sees it come back */ }
  if (resolved) {
    addPath(dirs, path.dirname(resolved));
    ownNames.add(path.basename(resolved));
  }
  return { dirs, ownNames, resolved };
}

function addPath(plan: WatchPlan, dir: string): void {
  plan.set(dir, undefined);
  for (let child = dir, parent = path.dirname(dir); parent !== child; child = parent, parent = path.dirname(parent)) {
    if (!plan.has(parent)) plan.set(parent, new Set());
    plan.get(parent)?.add(path.basename(child));
  }
}
