/** One line an operator can act on for a failed file-system call on `target` (instead of a raw EEXIST/EACCES). */
export function describeFsError(err: unknown, target: string): string {
  const e = err as NodeJS.ErrnoException;
  const user = process.getuid ? ` (this process runs as uid ${process.getuid()})` : '';
  switch (e.code) {
    case 'EEXIST':
    case 'ENOTDIR':
      return `${target} is not a folder (a file is in the way: ${e.path ?? target})`;
    case 'EACCES':
    case 'EPERM':
      return `${target} is not readable and writable by this user${user}: permission denied on ${e.path ?? target}; fix its owner or mode, or choose another folder`;
    case 'EROFS':
      return `${target} is on a read-only file system`;
    case 'ENOSPC':
      return `no space left on the device holding ${target}`;
    default:
      return `${target}: ${e.message ?? String(err)}`;
  }
}
