// Human-friendly numbers for terminal output.

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/**
 * A size some of whose parts may be unknown (rows moved inside a database): the known bytes, and
 * how many chunks could not tell theirs — never a made-up 0.
 */
export function formatKnownBytes(bytes: number | null, unknownChunks: number): string {
  if (bytes === null || (bytes === 0 && unknownChunks > 0)) return unknownChunks > 0 ? 'size unknown' : formatBytes(0);
  return unknownChunks > 0 ? `${formatBytes(bytes)} known, size unknown for ${unknownChunks} chunk${unknownChunks === 1 ? '' : 's'}` : formatBytes(bytes);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return `${minutes} min ${seconds} s`;
}
