// Counts, lists and quoted input in the command's messages.

/** "a, b, c and 7 more" */
export function some(list: readonly string[], most = 5): string {
  if (list.length <= most) return list.join(', ');
  return `${list.slice(0, most).join(', ')} and ${list.length - most} more`;
}

/** "1 member", "2 members" */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Text the user gave, as it may go to a terminal or a journal: control bytes escaped, at most 80 characters. */
export function printable(line: string): string {
  // eslint-disable-next-line no-control-regex
  const escaped = line.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return escaped.length > 80 ? `${escaped.slice(0, 79)}…` : escaped;
}
