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

/** Text the user gave, in single quotes, as it may go to a terminal or a journal: its first 60 characters, control and direction-changing ones escaped. */
export function quoted(text: string): string {
  const cut = text.length > 60 ? text.slice(0, 60) : text;
  // eslint-disable-next-line no-control-regex
  const escaped = cut.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return cut === text ? `'${escaped}'` : `'${escaped}…'`;
}
