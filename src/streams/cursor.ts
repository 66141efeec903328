/**
 * Stream cursors (PROTOCOL.md §10.1): the number of 20-second intervals since 2024-10-09T00:00Z,
 * sent on live responses so that CDN cache keys move on. A client echoing a cursor at or past the
 * current interval gets one further on (1 s to 1 h of jitter), so cursors never go back and a
 * cached empty answer cannot loop.
 */
const EPOCH = Date.UTC(2024, 9, 9)
const INTERVAL_MS = 20_000

export function nextCursor(echoed: string | null, now = Date.now()): string {
  const current = Math.floor((now - EPOCH) / INTERVAL_MS)
  const previous = echoed !== null && /^\d+$/.test(echoed) ? Number(echoed) : -1
  if (previous < current) return String(current)
  const jitterSeconds = 1 + Math.floor(Math.random() * 3600)
  return String(previous + Math.max(1, Math.ceil(jitterSeconds / (INTERVAL_MS / 1000))))
}

/**
 * The cursor of a later control event of the same SSE response: the current interval, never below
 * the one before (no new jitter per event, so readers in step write the same bytes).
 */
export function laterCursor(previous: string, now = Date.now()): string {
  const current = Math.floor((now - EPOCH) / INTERVAL_MS)
  return Number(previous) >= current ? previous : String(current)
}
