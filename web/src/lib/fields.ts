/**
 * Field messages may be sentence fragments ("is already taken"); give them their subject so they read well
 * under the field ("Username is already taken").
 */
export function humanizeFieldMessage(path: string, message: string): string {
  const m = message.trim();
  if (!m) return 'Invalid value.';
  if (/^(is|are|must|should|has|have|cannot|can't|does|do|already|was|needs?|contains?|may)\b/.test(m)) {
    const name = (path.split('.').pop() ?? path).replace(/_/g, ' ');
    return `${name.charAt(0).toUpperCase()}${name.slice(1)} ${m}`;
  }
  return m.charAt(0).toUpperCase() + m.slice(1);
}
