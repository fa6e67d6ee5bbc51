// Counts and lists in the command's messages.

/** "a, b, c and 7 more" */
export function some(list: readonly string[], most = 5): string {
  if (list.length <= most) return list.join(', ');
  return `${list.slice(0, most).join(', ')} and ${list.length - most} more`;
}

/** "1 member", "2 members" */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
