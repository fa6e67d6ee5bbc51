// The relay's members: --to plus a --to-file's, kept in one Group by
// diffing, so that members in both stay where they are.
import type { Endpoint } from '../address';
import { Group } from '../group';
import { Target, endpointKey, parseReachable } from './target';
import { quoted } from '../errors';

/** A --to-file's members, or the first malformed line as `error` (FILE:LINE: ...). */
export function parseMembersFile(text: string, file: string, listen: Target): { targets: Target[] } | { error: string } {
  // UTF-16 (as some editors save) read as UTF-8: a NUL between characters.
  if (text.includes('\0')) return { error: `${file}: not a text file in UTF-8 (it holds NUL bytes; UTF-16?): save it as UTF-8` };
  const targets: Target[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*/, '').trim();
    if (line === '') continue;
    const where = `${file}:${i + 1}: ${quoted(line)}`;
    if (/\s/.test(line)) return { error: `${where}: one HOST:PORT per line` };
    try {
      targets.push(parseReachable(line, { minPort: 1 }, listen, 'member'));
    } catch (error) {
      return { error: `${where}: ${(error as Error).message}` };
    }
  }
  return { targets };
}

export interface Reconciled {
  added: string[];
  removed: string[];
  duplicates: number;
}

/** The Group kept equal to --to plus the file's members by diffing. */
export class Members {
  readonly group = new Group();
  /** Each member's id in the group and text, by key. */
  readonly #entries = new Map<string, { id: number; text: string }>();
  /** A member was dropped (drop()) since the last reconcile, which the next one brings back. */
  #droppedSinceReconcile = false;

  get droppedSinceReconcile(): boolean {
    return this.#droppedSinceReconcile;
  }

  /** Makes the group --to then `file`, duplicates once; members in both stay as they are. */
  reconcile(fixed: readonly Target[], file: readonly Target[]): Reconciled {
    this.#droppedSinceReconcile = false;
    const wanted = new Map<string, Target>();
    let duplicates = 0;
    for (const target of [...fixed, ...file]) {
      if (wanted.has(target.key)) duplicates++;
      else wanted.set(target.key, target);
    }
    const leaving = [...this.#entries.keys()].filter((key) => !wanted.has(key));
    // Added before the others are removed: the relay forwards while this
    // runs, and a datagram between the two must not find the group empty
    // (a swapped only member dropped one as no-members).
    const added: string[] = [];
    for (const [key, target] of wanted) {
      if (this.#entries.has(key)) continue;
      this.#entries.set(key, { id: this.group.add({ address: target.address, port: target.port }), text: target.text });
      added.push(target.text);
    }
    const removed = leaving.map((key) => this.#remove(key)!);
    return { added, removed, duplicates };
  }

  /** Removes the member at this endpoint; its text, or undefined when none is. */
  drop(endpoint: Endpoint): string | undefined {
    const text = this.#remove(endpointKey(endpoint));
    if (text !== undefined) this.#droppedSinceReconcile = true;
    return text;
  }

  #remove(key: string): string | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.group.remove(entry.id);
    this.#entries.delete(key);
    return entry.text;
  }
}
