// Watching --to-file: its directories, not the file. An editor that saves by
// rename replaces the file watched (a watch on it would see no more
// changes); a symlink's target may live elsewhere. Any event there calls
// back once things settle (a re-read of an unchanged text does nothing).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { reason } from './errors';
import type { CliIO } from './io';

/** How long after the last event the file is re-read. */
const DEBOUNCE_MS = 200;

/** Calls `onChange` after events in the directories of `file`; failures to watch are warnings. Returns the stop. */
export function watchFile(file: string, io: CliIO, onChange: () => void): () => void {
  let debounce: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    clearTimeout(debounce);
    debounce = setTimeout(onChange, DEBOUNCE_MS);
  };
  const watchers = [...directoriesOf(file)].flatMap((dir) => watchDirectory(dir, file, io, schedule));
  return () => {
    clearTimeout(debounce);
    for (const watcher of watchers) watcher.close();
  };
}

/** The file's directory, and its target's when it is a symlink. */
function directoriesOf(file: string): Set<string> {
  const dirs = new Set([path.dirname(path.resolve(file))]);
  try {
    dirs.add(path.dirname(fs.realpathSync(file)));
  } catch { /* read at start; gone meanwhile: the next change says so */ }
  return dirs;
}

/** A watcher on `dir`, or none (said) when it cannot be watched. */
function watchDirectory(dir: string, file: string, io: CliIO, onEvent: () => void): fs.FSWatcher[] {
  try {
    const watcher = fs.watch(dir, { persistent: false }, onEvent);
    watcher.on('error', (error: NodeJS.ErrnoException) => {
      io.err(`warning: watching ${dir} failed (${reason(error)}): re-read ${file} with SIGHUP`);
      watcher.close();
    });
    return [watcher];
  } catch (error) {
    io.err(`warning: cannot watch ${dir} (${reason(error)}): re-read ${file} with SIGHUP`);
    return [];
  }
}
